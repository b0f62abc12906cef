import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** How a process ended: its exit code, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A command running in a process group of its own, as a shell starts a job: the test can
 * signal the command's process alone (`kill <pid>`) or its whole group, as Ctrl-C in a
 * terminal does (`kill -- -<pid>`), and can kill everything the command started.
 */
export interface Command {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** The command's process has exited (processes it started may still run). */
  exited: Promise<Exit>;
  /** Every holder of its stdout and stderr has closed them: the outputs are complete. */
  outputEnded: Promise<void>;
  /** The command's exit, once its outputs are complete too. */
  finished: Promise<Exit>;
  /** Resolves once stdout contains `text`; rejects, with both outputs, on exit or timeout. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  /** Sends `signal` to the command's process, or with `group` to every process of its group. */
  signal(signal: NodeJS.Signals, options?: { group?: boolean }): void;
  /**
   * True while a process of the group runs, the command's own or one it started. A process
   * that has ended but not yet been collected by its parent (a zombie) does not count.
   */
  groupRunning(): boolean;
  /** SIGKILL to every process of the group still alive. Safe to call at any time. */
  kill(): void;
}

/**
 * Starts `command` in a new process group. Stop it in the test's cleanup whatever happens,
 * so that a failed assertion leaves nothing running.
 *
 * @example
 * const cli = startCommand('npm', ['start'], { cwd: root, env });
 * onTestFinished(() => cli.kill());
 * await cli.waitForOutput('Ctrl-C stops');
 * cli.signal('SIGTERM');
 * expect(await cli.exited).toEqual({ code: 0, signal: null });
 */
export function startCommand(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Command {
  const child = spawn(command, args, { ...options, detached: true });
  const pid = child.pid as number;
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const listener of listeners) listener();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  // 'error': the command could not be started (e.g. not found); 'close' still follows.
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', reject);
  });
  const outputEnded = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const finished = Promise.all([exited, outputEnded]).then(([exit]) => exit);
  // Whoever awaits them sees a failure to start; a test that does not is not failed by it twice.
  exited.catch(() => {});
  finished.catch(() => {});
  const groupHasMember = () => {
    try {
      // Signal 0 checks that the group still has a member (zombies included), and sends nothing.
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    child,
    pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    outputEnded,
    finished,
    waitForOutput(text, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!out.includes(text)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no "${text}" within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (!out.includes(text)) {
            clearTimeout(timer);
            reject(new Error(`exited before "${text}"; stdout: ${out}; stderr: ${err}`));
          }
        });
        check();
      });
    },
    signal(signal, { group = false } = {}) {
      process.kill(group ? -pid : pid, signal);
    },
    groupRunning: () => groupRunning(pid),
    kill() {
      if (groupHasMember()) process.kill(-pid, 'SIGKILL');
    },
  };
}

/**
 * Whether a process of group `pgid` runs, from /proc (Linux): `/proc/<pid>/stat` holds the state
 * and the group after the command name. Elsewhere, whether the group has any member at all.
 */
function groupRunning(pgid: number): boolean {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(group) === pgid && state !== 'Z') return true;
  }
  return false;
}

/**
 * Runs `command` to its end in a process group of its own and returns its outputs and exit
 * code (never throws for a non-zero exit). Past `timeoutMs` it kills the whole group, the
 * command's children included (execFile's timeout would kill only the command itself).
 *
 * @example
 * const { code, stdout } = await runCommand('npx', ['cdk', 'synth'], { cwd: root, env, timeoutMs: 60_000 });
 */
export async function runCommand(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const run = startCommand(command, args, { cwd: options.cwd, env: options.env ?? process.env });
  const timer = setTimeout(() => run.kill(), options.timeoutMs);
  try {
    const exit = await run.exited;
    // The command has ended; anything it left behind in its group goes too.
    run.kill();
    await run.finished;
    return { ...exit, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    clearTimeout(timer);
  }
}
