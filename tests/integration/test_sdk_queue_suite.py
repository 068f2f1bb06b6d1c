"""The SDK's own queue tests (`eas_prediction/test_queue_client.py`, shipped in the wheel) against the emulator.

They run in a subprocess: the SDK's watcher ping threads and sockets never stop (its `close()` leaves them to the
process), so they must not leak into the pytest process. The module is imported unmodified; only its
`QueueEndpoint` is pointed at the emulator (token stays '' as in the file) and its shared clients are reset.
Methods run in file (alphabetical) order, as unittest does, because they depend on each other's leftovers.

Two of them, `test_watch_with_inference_service_sync` and `..._async`, put `[{}]` into `test_group.qservice` and
read results from its sink: they depend on the unknown model behind the real test service. They pass here because
the emulator gives that queue worker instances with a stand-in model (tui/sim/workers.py, ProbabilityModelHandler:
one two-key object per record, which is what the sync test checks); that is a fidelity claim about our workers
and the queue plumbing, not about the real model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

RUNNER = textwrap.dedent(
    """
    import json, sys, time, unittest
    from tui.sim.server import SimThread
    import eas_prediction.test_queue_client as sdk_tests

    thread = SimThread(port=0, step_seconds=0.001)
    server = thread.start()
    sdk_tests.QueueEndpoint = server.endpoint
    sdk_tests.input_queue = None
    sdk_tests.sink_queue = None

    durations = {}
    class TimedResult(unittest.TextTestResult):
        def startTest(self, test):
            self._started = time.monotonic()
            super().startTest(test)
        def stopTest(self, test):
            super().stopTest(test)
            durations[test.id().rsplit('.', 1)[-1]] = round(time.monotonic() - self._started, 3)

    suite = unittest.TestLoader().loadTestsFromTestCase(sdk_tests.QueueClientTestCase)
    order = [test.id().rsplit('.', 1)[-1] for test in suite]  # the suite forgets its tests once run
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=TimedResult).run(suite)
    report = {
        "run": result.testsRun,
        "order": order,
        "failures": [(t.id(), tb) for t, tb in result.failures + result.errors],
        "durations": durations,
    }
    print("REPORT " + json.dumps(report), flush=True)
    import os
    os._exit(0)  # the SDK's watcher threads would keep a normal exit waiting
    """
)

EXPECTED_ORDER = [
    "test_queue_get_by_index",
    "test_queue_get_by_request_id",
    "test_queue_truncate",
    "test_watch_async",
    "test_watch_with_auto_commit",
    "test_watch_with_inference_service_async",
    "test_watch_with_inference_service_sync",
    "test_watch_with_manual_commit",
    "test_watch_with_two_watcher",
]


def test_the_sdks_own_queue_tests_pass_against_the_emulator() -> None:
    completed = subprocess.run([sys.executable, "-c", RUNNER], capture_output=True, text=True, timeout=240)
    report_lines = [line for line in completed.stdout.splitlines() if line.startswith("REPORT ")]
    assert report_lines, f"no report; stdout:\n{completed.stdout}\nstderr:\n{completed.stderr[-4000:]}"
    report = json.loads(report_lines[-1][len("REPORT "):])
    assert report["order"] == EXPECTED_ORDER
    assert report["run"] == len(EXPECTED_ORDER)
    assert report["failures"] == [], completed.stderr[-4000:]
    # A figure, not an assertion: how long the SDK's 2,000-put watch load took against the emulator.
    print(f"\nSDK test_watch_async (2,000 puts during a watch): {report['durations']['test_watch_async']:.2f} s")
    print(f"SDK test_watch_with_inference_service_async: {report['durations']['test_watch_with_inference_service_async']:.2f} s")
