import assert from "node:assert/strict";
import { test } from "node:test";

import {
  finishedMessage, JOB_FINISHED, JOB_PROGRESS, JOB_STARTED, type JobPayload, JobTracker, needsNotification, statusText,
} from "../../src/status";

const base: JobPayload = {
  jobId: "j1", kind: "optimize", uri: "file:///w/saxpy.cpp", kernel: "saxpy", state: "running",
  done: 0, budget: 6, bestSpeedup: null, message: "starting",
};

test("the tracker follows started -> progress -> finished", () => {
  let t = 1000;
  const tr = new JobTracker(() => t);
  const seen: string[] = [];
  tr.onChange((j, m) => seen.push(`${m}:${j.state}:${j.done}`));
  tr.update(JOB_STARTED, base);
  assert.deepEqual(statusText([...tr.jobs.values()]).text, "$(sync~spin) kf: saxpy 0/6");
  t = 5000;
  tr.update(JOB_PROGRESS, { ...base, done: 3, bestSpeedup: 1.25, message: "3/6 evaluations, best 1.25x" });
  const s = statusText([...tr.jobs.values()]);
  assert.equal(s.text, "$(sync~spin) kf: saxpy 3/6 1.25x");
  assert.match(s.tooltip, /optimizing saxpy: 3\/6 evaluations, best 1.25x/);
  assert.equal(s.busy, true);
  const job = tr.jobs.get("j1");
  assert.ok(job);
  assert.equal(job.firstSeen, 1000);
  assert.deepEqual(job.history, [[3, 1.25]]);
  tr.update(JOB_FINISHED, { ...base, state: "done", done: 6, bestSpeedup: 1.4,
    best: { id: "v", operator: "tune", speedup: 1.4, speedupLow: 1.3, speedupHigh: 1.5, tunables: { WG_SIZE: 256 }, significant: true } });
  assert.deepEqual(tr.active(), []);
  assert.equal(statusText([...tr.jobs.values()]).text, "$(dashboard) kf");
  assert.deepEqual(seen, ["kf/jobStarted:running:0", "kf/jobProgress:running:3", "kf/jobFinished:done:6"]);
  assert.deepEqual(tr.jobs.get("j1")?.history, [[3, 1.25], [6, 1.4]]);
});

test("a finish is a finish even when the payload says running; junk is ignored", () => {
  const tr = new JobTracker();
  assert.equal(tr.update(JOB_PROGRESS, { nope: 1 }), undefined);
  assert.equal(tr.update(JOB_PROGRESS, null), undefined);
  const j = tr.update(JOB_FINISHED, { ...base, state: "running" });
  assert.equal(j?.state, "done");
  const e = tr.update(JOB_FINISHED, { ...base, jobId: "j2", state: "running", error: "boom" });
  assert.equal(e?.state, "error");
});

test("several jobs and queued ones", () => {
  const s = statusText([base, { ...base, jobId: "j2", kernel: "transpose", state: "queued" }]);
  assert.equal(s.text, "$(sync~spin) kf: 2 jobs (saxpy, transpose)");
  assert.match(s.tooltip, /optimizing transpose: queued/);
  assert.equal(statusText([{ ...base, state: "queued" }]).text, "$(sync~spin) kf: saxpy (queued)");
  assert.equal(statusText([{ ...base, kind: "benchmark" }]).text, "$(sync~spin) kf: saxpy (benchmark)");
});

test("finished messages say what was found, honestly", () => {
  const found = finishedMessage({ ...base, state: "done", done: 6,
    best: { id: "v", operator: "tune", speedup: 1.4, speedupLow: 1.3, speedupHigh: 1.5, tunables: { WG_SIZE: 256 }, significant: true } });
  assert.deepEqual(found, { level: "info", hasBest: true, text: "kf: saxpy finished: 1.40x [1.30-1.50] faster variant (tune: WG_SIZE=256)" });
  const none = finishedMessage({ ...base, state: "done", done: 3, best: null });
  assert.deepEqual(none, { level: "info", hasBest: false, text: "kf: saxpy finished after 3 evaluations: no verified faster variant" });
  const notSig = finishedMessage({ ...base, state: "done", done: 3,
    best: { id: "v", operator: "tune", speedup: 1.02, significant: false } });
  assert.equal(notSig.hasBest, false);
  const stopped = finishedMessage({ ...base, state: "cancelled", done: 2, best: null });
  assert.match(stopped.text, /stopped after 2 evaluations/);
  // a stopped search's best was not re-timed: said so (issue 22)
  const early = finishedMessage({ ...base, state: "cancelled", done: 4,
    best: { id: "v", operator: "tune", speedup: 1.22, speedupLow: 1.04, speedupHigh: 2.19, tunables: { WG_SIZE: 64 }, significant: true } });
  assert.equal(early.text, "kf: saxpy stopped: 1.22x [1.04-2.19] faster variant (tune: WG_SIZE=64), not re-timed");
  assert.match(finishedMessage({ ...base, state: "interrupted", done: 4, best: null }).text, /interrupted after 4/);
  assert.equal(finishedMessage({ ...base, state: "error", error: "kf: no device" }).level, "error");
});

test("long searches get a notification once", () => {
  const tr = new JobTracker(() => 0);
  const j = tr.update(JOB_STARTED, base);
  assert.ok(j);
  assert.equal(needsNotification(j, 5000, 10, new Set()), false);
  assert.equal(needsNotification(j, 10000, 10, new Set()), true);
  assert.equal(needsNotification(j, 10000, 10, new Set(["j1"])), false);
  assert.equal(needsNotification({ ...j, kind: "benchmark" }, 20000, 10, new Set()), false);
  assert.equal(needsNotification({ ...j, state: "queued" }, 20000, 10, new Set()), false);
});
