import os from "node:os";

/** The machine a run was measured on. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly v8: string;
  readonly os: string;
  readonly arch: string;
  /** 1, 5 and 15 minute load averages when the run started (the machine may be shared). */
  readonly loadAverage: readonly number[];
}

/** Describes the current machine. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()}`,
    arch: process.arch,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
