/**
 * A stand-in `sbatch` for engine tests that need no controller: run as
 * `bash -c <text> fake-sbatch <script> <array size> [id]`, it runs the script (each element of
 * an array in turn, with the variables Slurm would set) in the foreground, then prints the
 * answer sbatch prints. `idLine` sets `id`: from the third argument, or made up.
 */
export function fakeSbatch(idLine: string): string {
  return [
    'script=$1; n=$2',
    idLine,
    'cd -- "$(dirname -- "$script")/.." || exit 1',
    'if [ "$n" -gt 0 ]; then',
    '  k=0; while [ "$k" -lt "$n" ]; do',
    '    SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$k SLURM_JOB_ID=$((id + k + 1)) bash "$script" >/dev/null 2>&1 </dev/null',
    '    k=$((k + 1))',
    '  done',
    'else',
    '  SLURM_JOB_ID=$id bash "$script" >/dev/null 2>&1 </dev/null',
    'fi',
    'echo "Submitted batch job $id"',
  ].join('\n');
}
