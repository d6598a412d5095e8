import { it } from 'vitest';
import './does-not-exist.mjs';

it('never loads', () => {});
