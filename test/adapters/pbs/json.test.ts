import { describe, expect, it } from 'vitest';
import { LenientJsonError, readJsonDocuments, readLenientJson, readLenientValueAt } from '../../../adapters/pbs/json.js';
import { dropVariableLists, parsePbsproJson } from '../../../adapters/pbs/parse.js';
import { parseQueuesJson } from '../../../adapters/pbs/tables.js';
import { fixture } from '../../helpers/fixtures.js';

describe('tolerant JSON reader: the faults of qstat -F json', () => {
  it('uses JSON.parse for valid JSON and says so', () => {
    const r = readJsonDocuments('{"a": [1, "x", true, null], "b": {"c": -2.5e3}}');
    expect(r).toEqual({ values: [{ a: [1, 'x', true, null], b: { c: -2500 } }], strategy: 'strict', warnings: [] });
    expect(readJsonDocuments('  \n')).toEqual({ values: [], strategy: 'strict', warnings: [] });
  });

  it('keeps unescaped quotes inside a value, ending a string only where the structure continues', () => {
    const r = readJsonDocuments('{"comment":"say "hi", then leave","next":"a "b" c"}');
    expect(r.strategy).toBe('lenient');
    expect(r.values).toEqual([{ comment: 'say "hi", then leave', next: 'a "b" c' }]);
  });

  it('ends a string before closers only when they match the open containers', () => {
    // `"}}}` inside the value would close three containers, but only two are open and it is
    // followed by a quote, so the string goes on.
    const r = readLenientJson('{"V":{"AUTH":"{"a":{"b":"c"}}}","HOME":"/h"},"x":1}');
    expect(r.values).toEqual([{ V: { AUTH: '{"a":{"b":"c"}}}', HOME: '/h' }, x: 1 }]);
  });

  it('invalid escapes: drops the backslash of PBS\'s \\, and \\\' , keeps any other as text', () => {
    const r = readLenientJson(String.raw`{"A":"ab\,c","B":"\'x\'","PS1":"\u@\h:\w\$ ","U":"\u00e9","Q":"a\"b"}`);
    expect(r.values).toEqual([{ A: 'ab,c', B: "'x'", PS1: String.raw`\u@\h:\w\$ `, U: 'é', Q: 'a"b' }]);
    expect(r.warnings).toContain('kept a backslash that did not start a valid JSON escape');
  });

  it('raw control characters inside strings are kept', () => {
    expect(readLenientJson('{"f":"() {\n\techo x\n}","g":1}').values).toEqual([{ f: '() {\n\techo x\n}', g: 1 }]);
  });

  it('numbers with leading zeros stay text (openpbs#1255); ordinary numbers are numbers', () => {
    const r = readLenientJson('{"foo":005,"bar":-007,"n":10,"z":0,"f":1.5,"t":true,"nul":null}');
    expect(r.values).toEqual([{ foo: '005', bar: '-007', n: 10, z: 0, f: 1.5, t: true, nul: null }]);
  });

  it('duplicate keys: the last one wins, with a warning', () => {
    const r = readLenientJson('{"m":"1","m":"2","x":005}');
    expect(r.values).toEqual([{ m: '2', x: '005' }]);
    expect(r.warnings).toContain('duplicate key "m" (the last value wins)');
  });

  it('a key named __proto__ is data', () => {
    const v = readLenientJson('{"__proto__":{"polluted":1},"x":01}').values[0] as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__', 'x']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('reads several documents back to back (one per qstat that xargs ran)', () => {
    const r = readJsonDocuments('{"Jobs":{"1.s":{"job_state":"R"}}}\n{"Jobs":{"2.s":{"job_state":"Q"}}}\n');
    expect(r.values).toHaveLength(2);
  });

  it('skips text before the first document (qstat -u with -F json prints its table first, openpbs PR #2675)', () => {
    const r = readLenientJson('VMa:\n  Job ID  Username\n--------------- --------\n{\n"timestamp":1,"x":"a"b"\n}');
    expect(r.values).toEqual([{ timestamp: 1, x: 'a"b' }]);
    expect(r.warnings.some((w) => w.startsWith('skipped'))).toBe(true);
  });

  it('fails loudly rather than swallowing the rest: text after a document, truncation, a missing colon', () => {
    expect(() => readLenientJson('{"a":1} trailing')).toThrow(LenientJsonError);
    expect(() => readLenientJson('{"a":"b')).toThrow(/unterminated string/);
    expect(() => readLenientJson('{"a" 1}')).toThrow(LenientJsonError);
    expect(() => readLenientJson('{"a":1 "b":2}')).toThrow(/expected ',' or '}'/);
    expect(() => readLenientJson('{a:1}')).toThrow(/expected a quoted key/);
    expect(() => readJsonDocuments('{"Jobs":{')).toThrow(LenientJsonError);
  });

  it('reads one value out of a larger text, given the containers around it', () => {
    const text = '"9.s":{"job_state":"R","comment":"x"},\n"10.s":{';
    const r = readLenientValueAt(text, text.indexOf('{'), ['object', 'object']);
    expect(r.value).toEqual({ job_state: 'R', comment: 'x' });
    expect(text.slice(r.end)).toMatch(/^,/);
  });
});

describe('regression captures (hand-written models of what real servers print)', () => {
  it('regressions/pbspro_qstat_fxj_unescaped_quotes.txt: quotes in Variable_List, Submit_arguments', () => {
    const r = parsePbsproJson(fixture('regressions/pbspro_qstat_fxj_unescaped_quotes.txt'));
    expect(r.strategy).toBe('lenient');
    expect(r.jobs.map((j) => j.id)).toEqual(['1201.pbs01', '1202.pbs01']);
    expect(r.jobs[0]!.attrs['Submit_arguments']).toBe('-v GREETING="say hi" job.pbs');
    expect(r.jobs[0]!.attrs['Resource_List.select']).toBe('1:ncpus=4:mem=4096mb');
    expect(r.jobs[0]!.attrs['Variable_List.GREETING']).toBeUndefined();
    expect(r.jobs[1]!.attrs).toMatchObject({ job_state: 'F', Exit_status: '-29', 'resources_used.walltime': '01:00:07' });
  });

  it('regressions/pbspro_qstat_fxj_invalid_escapes.txt: \\, \\\' and \\u@ from qsub -V', () => {
    const text = fixture('regressions/pbspro_qstat_fxj_invalid_escapes.txt');
    const doc = readJsonDocuments(text).values[0] as { Jobs: Record<string, { Variable_List: Record<string, string> }> };
    const env = doc.Jobs['1310.pbs01']!.Variable_List;
    expect(env['LIST']).toBe('ab,c');
    expect(env['MYVAR']).toBe(`'"asads"'`);
    expect(env['PS1']).toBe(String.raw`\u@\h:\w\$ `);
    // A valid JSON escape is honoured even where PBS meant a literal backslash: the reader cannot know.
    expect(env['WINPATH']).toBe('C:\temp\new');
    expect(parsePbsproJson(text).jobs[0]!.attrs).toMatchObject({ job_state: 'Q', comment: 'Not Running: Insufficient amount of resource: ncpus (R: 4 A: 0 T: 64)' });
  });

  it('regressions/pbspro_qstat_fxj_leading_zero_number.txt: "foo":005', () => {
    const text = fixture('regressions/pbspro_qstat_fxj_leading_zero_number.txt');
    expect(() => JSON.parse(text)).toThrow();
    const doc = readJsonDocuments(text).values[0] as { Jobs: Record<string, { Variable_List: Record<string, unknown> }> };
    expect(doc.Jobs['53.testpbs']!.Variable_List).toEqual({ foo: '005', RUN: '-007', PBS_O_HOME: '/home/alice' });
    expect(parsePbsproJson(text).jobs[0]!.attrs).toMatchObject({ job_state: 'H', Hold_Types: 'u' });
  });

  it('regressions/pbspro_qstat_fxj_raw_newlines.txt: BASH_FUNC bodies with raw newlines and quotes', () => {
    const text = fixture('regressions/pbspro_qstat_fxj_raw_newlines.txt');
    const doc = readJsonDocuments(text).values[0] as { Jobs: Record<string, { Variable_List: Record<string, string> }> };
    const env = doc.Jobs['88.pbs01']!.Variable_List;
    expect(env['BASH_FUNC_module()']).toBe('() {  eval `/usr/bin/modulecmd bash $*`\n}');
    // The body's \n is a valid JSON escape, so it reads as a newline.
    expect(env['BASH_FUNC_show()']).toBe(`() {\tprintf '%s\n' "$1"\n}`);
    expect(env['PBS_O_HOME']).toBe('/home/alice');
  });

  it('regressions/pbspro_qstat_fxj_json_in_environment.txt: a JSON document inside an environment value', () => {
    const r = parsePbsproJson(fixture('regressions/pbspro_qstat_fxj_json_in_environment.txt'));
    expect(r.jobs.map((j) => [j.id, j.attrs['job_state'], j.attrs['Exit_status']])).toEqual([
      ['2001.pbs01', 'F', '0'],
      ['2002.pbs01', 'Q', undefined],
    ]);
    expect(r.jobs[1]!.attrs['comment']).toBe('Not Running: Job would conflict with reservation or top job');
  });

  it('regressions/pbspro_qstat_fxj_truncated_array.txt: output cut mid-job falls back to reading job by job', () => {
    const r = parsePbsproJson(fixture('regressions/pbspro_qstat_fxj_truncated_array.txt'));
    expect(r.strategy).toBe('job-blocks');
    expect(r.jobs.map((j) => [j.id, j.attrs['job_state'], j.partial ?? false])).toEqual([
      ['3001[].pbs01', 'B', false],
      ['3001[0].pbs01', 'X', false],
      ['3001[1].pbs01', 'R', false],
      ['3001[2].pbs01', 'Q', true],
    ]);
    expect(r.jobs[1]!.attrs['Exit_status']).toBe('0');
    // `"cn005","cn006":` inside the comment cannot be told from the next member: misread, not lost.
    expect(r.jobs[1]!.attrs['comment']).toBe('site hook: "cn005');
    expect(r.warnings).toEqual(['job 3001[2].pbs01: block unreadable, salvaged Job_Name, job_state']);
  });

  it('regressions/pbspro_qstat_Qf_json_duplicate_keys.txt: max_queued three times (openpbs#2677)', () => {
    const text = fixture('regressions/pbspro_qstat_Qf_json_duplicate_keys.txt');
    const lenient = readLenientJson(text);
    expect(lenient.warnings).toContain('duplicate key "max_queued" (the last value wins)');
    const [q] = parseQueuesJson(text);
    expect(q).toMatchObject({ name: 'QueueA', type: 'Execution', enabled: true, started: true, maxWalltime: '24:00:00', queued: 3, running: 0 });
    expect(q!.attrs['max_queued']).toBe('[u:tom=15]');
  });

  it('dropVariableLists cuts the blocks and keeps the document valid', () => {
    const text = '{\n\t"Jobs":\t{\n\t\t"1.s":\t{\n\t\t\t"job_state":\t"R",\n\t\t\t"Variable_List":\t{\n\t\t\t\t"A":\t"x"y"}\n\t\t\t},\n\t\t\t"queue":\t"q"\n\t\t},\n\t\t"2.s":\t{\n\t\t\t"job_state":\t"Q",\n\t\t\t"Variable_List":\t{\n\t\t\t\t"B":\t"1"\n\t\t\t}\n\t\t}\n\t}\n}';
    const cut = dropVariableLists(text);
    expect(JSON.parse(cut)).toEqual({ Jobs: { '1.s': { job_state: 'R', queue: 'q' }, '2.s': { job_state: 'Q' } } });
  });
});
