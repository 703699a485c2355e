// Which documents are kernel files, the way the server decides (backends/kernel/scanner.py
// language_of): CUDA by extension; C++ files only when they hold SYCL kernels (include
// <sycl/sycl.hpp> or use SYCL_EXT_ONEAPI_FUNCTION_PROPERTY). Only these are synced to the
// server; other C/C++ files never leave the editor. No `vscode` import.

const CUDA_EXT = /\.(cu|cuh)$/i;
const SYCL_EXT = /\.(cpp|cxx|cc|hpp|hxx|sycl|h)$/i;
const SYCL_MARK = /SYCL_EXT_ONEAPI_FUNCTION_PROPERTY|#\s*include\s*<sycl\/sycl\.hpp>/;

/** The glob of the files that may be kernel files (the file watcher's and the selector's). */
export const KERNEL_GLOB = "**/*.{cu,cuh,cpp,cxx,cc,hpp,hxx,sycl,h}";
/** Activation: a workspace with CUDA files, `.sycl` files or kf's own folder. */
export const ACTIVATION_GLOBS = ["**/*.cu", "**/*.cuh", "**/*.sycl", "**/.kf/kf.db"];

/** "cuda", "sycl", or null (not a kernel file). */
export function kernelLanguage(path: string, text: string): "cuda" | "sycl" | null {
  if (CUDA_EXT.test(path)) {
    return "cuda";
  }
  if (SYCL_EXT.test(path) && SYCL_MARK.test(text)) {
    return "sycl";
  }
  return null;
}

export function isKernelFile(path: string, text: string): boolean {
  return kernelLanguage(path, text) !== null;
}

/** What to do with a document event: pass it on, open the document first (it became a
 *  kernel file while edited: the open carries the whole text), or drop it. */
export type SyncAction = "pass" | "open" | "skip";

/** The documents synced to the server, by URI: only kernel files are opened there, and
 *  only opened ones get changes, saves and closes. */
export class SyncGate {
  private readonly synced = new Set<string>();

  /** (a restarted client opens its documents again: still passed on) */
  opened(uri: string, path: string, text: string): SyncAction {
    if (this.synced.has(uri)) {
      return "pass";
    }
    if (!isKernelFile(path, text)) {
      return "skip";
    }
    this.synced.add(uri);
    return "pass";
  }

  changed(uri: string, path: string, text: string): SyncAction {
    if (this.synced.has(uri)) {
      return "pass";
    }
    if (!isKernelFile(path, text)) {
      return "skip";
    }
    this.synced.add(uri);
    return "open";
  }

  /** save / willSave / a feature request: only for synced documents */
  has(uri: string): boolean {
    return this.synced.has(uri);
  }

  closed(uri: string): SyncAction {
    return this.synced.delete(uri) ? "pass" : "skip";
  }

  /** the server went away: nothing is open there any more */
  reset(): void {
    this.synced.clear();
  }

  get size(): number {
    return this.synced.size;
  }
}
