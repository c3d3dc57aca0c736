"""moto_server with orderflow's fixes for known moto bugs; same CLI as moto_server.

Usage (what pkg/emulator runs):

    python3 moto_server_shim.py -H 127.0.0.1 -p 5000

Why this file exists
--------------------
moto 5.2.1 cannot start a state machine a second time once Step Functions
execution is enabled (POST /moto-api/config {"stepfunctions":
{"execute_state_machine": true}}): the second StartExecution answers HTTP 500,
"TypeError: cannot pickle '_thread.RLock' object" (getmoto/moto#10077).

Cause: StepFunctionsParserBackend.start_execution
(moto/stepfunctions/parser/models.py) snapshots the state machine with
copy.deepcopy(state_machine). After the first run, state_machine.executions
holds an Execution whose exec_worker is a live thread with an RLock, which
deepcopy cannot copy.

Fix (the same as upstream's, getmoto/moto#10093): the deepcopy of a state
machine in that module gets a memo that maps its executions list to an empty
list, so the clone (a snapshot of the definition for the new execution) starts
with no executions and the live workers are never traversed. The original
state machine is not touched.

The patch is applied only when the installed moto still has the bug: the
source of start_execution contains the bare "copy.deepcopy(state_machine)"
call. Set MOTO_SHIM_DISABLE=1 to run moto unpatched (the tests do, to show the
bug). On start the shim prints one line to stderr saying what it did.

Second fix: slow JSONPath parsing (EventBridge PutEvents, Step Functions)
---------------------------------------------------------------------------
moto evaluates JSONPath with jsonpath_ng, calling jsonpath_ng's parse() for
every path of every evaluation, and jsonpath_ng (1.8.0 here) builds a new PLY
parser on each call: about 23 ms of CPU. EventBridge runs eight paths for every
rule target an event matches, even without an InputTransformer
(EventTemplateParser.parse in moto/events/utils.py), so one PutEvents that
matches four targets costs about 250 ms, and the Step Functions interpreter
pays the same on each InputPath/ResultPath/Parameters path. Under load moto
spends its single core re-building parsers. Fix: parse() is memoized per
expression (the parsed path is immutable; find() only reads it), which brings
such a PutEvents to about 3 ms. It is installed before moto is imported, since
moto's Step Functions parser binds parse at import time.

Third fix: DynamoDB writes are not serialized
---------------------------------------------
moto server handles requests on several threads, and its DynamoDB backend
checks a write's conditions and then applies it without a lock. Two concurrent
TransactWriteItems can both pass their conditions before either applies (seen
under the chaos run: a duplicate reserve delivery taking stock twice with one
reservation record), which real DynamoDB never allows: transactions and
conditional writes are serializable. Fix: every mutating DynamoDB backend method
(put/update/delete item, batch write, transact write, PartiQL) runs under one
process-wide lock. Reads are left concurrent.

Fourth fix: EventBridge replays ignore their window and their rules
-------------------------------------------------------------------
moto's Replay.replay_events (moto/events/models.py) sends every archived event
to every rule of the bus: it ignores EventStartTime/EventEndTime and the
destination's FilterArns, so a replay of one hour to one consumer's rule
re-delivers the whole archive to everyone (`orderflow events replay`). Fix: the
same loop, over the archived events whose time is inside the window, to the
rules named by FilterArns (all rules when there are none), as AWS does.

When to delete it
-----------------
When the pinned moto (Makefile / docs: moto[server]==5.2.1) is raised to a
release that contains getmoto/moto#10093, the shim prints "not needed" for it;
the JSONPath cache can go when moto or jsonpath_ng caches parsed paths itself.
With neither fix needed, pkg/emulator can run moto_server directly and this
file can go.
"""

import copy
import functools
import inspect
import os
import sys

# Exit status when moto (or its server extras) is not installed; pkg/emulator
# turns it into emulator.ErrNotInstalled with an install hint.
EXIT_MOTO_MISSING = 3

PREFIX = "moto_server_shim:"


class _CopyWithoutExecutions:
    """Stands in for the copy module inside moto's parser models.

    deepcopy of a state machine maps its executions list to a fresh empty
    list; everything else is delegated to the real copy module.
    """

    def __init__(self, state_machine_types):
        self._types = state_machine_types

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, x, memo=None, _nil=None):
        if isinstance(x, self._types):
            executions = getattr(x, "executions", None)
            if isinstance(executions, list):
                memo = {} if memo is None else memo
                memo.setdefault(id(executions), [])
        return copy.deepcopy(x, memo)


def _patch_stepfunctions_deepcopy():
    """Applies the getmoto/moto#10077 fix if needed; returns a status line."""
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.parser import models as parser_models

    source = inspect.getsource(
        parser_models.StepFunctionsParserBackend.start_execution
    )
    if "copy.deepcopy(state_machine)" not in source:
        return "stepfunctions start_execution deepcopy fix not needed"
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "stepfunctions start_execution deepcopy fix NOT applied (MOTO_SHIM_DISABLE=1)"
    parser_models.copy = _CopyWithoutExecutions(sfn_models.StateMachineInstance)
    return "patched stepfunctions start_execution deepcopy (getmoto/moto#10077)"


def _cache_jsonpath_parse():
    """Memoizes jsonpath_ng's parse functions; returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "jsonpath parse cache off (MOTO_SHIM_DISABLE=1)"
    try:
        import jsonpath_ng
        import jsonpath_ng.ext
    except ImportError:
        return "jsonpath_ng not installed: no parse cache"
    jsonpath_ng.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.parse)
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)
    return "cached jsonpath_ng parse"


def _serialize_dynamodb_writes():
    """Runs moto's mutating DynamoDB backend methods under one lock; returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "dynamodb writes unserialized (MOTO_SHIM_DISABLE=1)"
    import threading
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    names = ["put_item", "update_item", "delete_item", "batch_write_item",
             "transact_write_items", "execute_statement", "execute_transaction"]
    patched = []
    for name in names:
        fn = getattr(DynamoDBBackend, name, None)
        if fn is None:
            continue

        def locked(*args, __fn=fn, **kwargs):
            with lock:
                return __fn(*args, **kwargs)

        functools.update_wrapper(locked, fn)
        setattr(DynamoDBBackend, name, locked)
        patched.append(name)
    return "serialized dynamodb writes (" + ", ".join(patched) + ")"


def _replay_window_and_rules():
    """Makes moto's EventBridge replays honour their window and FilterArns."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "replays unfiltered (MOTO_SHIM_DISABLE=1)"
    from datetime import datetime, timezone

    from moto.events import models as ev
    from moto.moto_api._internal import mock_random
    from moto.core.utils import unix_time

    def seconds(v):
        if isinstance(v, (int, float)):
            return float(v)
        try:
            return float(v)
        except (TypeError, ValueError):
            d = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=timezone.utc)
            return d.timestamp()

    def replay_events(self, archive):
        bus_name = self.destination["Arn"].split("/")[-1]
        only = set(self.destination.get("FilterArns") or [])
        start, end = seconds(self.event_start_time), seconds(self.event_end_time)
        backend = ev.events_backends[self.account_id][self.region]
        bus = backend.describe_event_bus(bus_name)
        for event in list(archive.events):
            if not start <= seconds(event.get("time")) <= end:
                continue
            for rule in list(bus.rules.values()):
                if only and rule.arn not in only:
                    continue
                rule.send_to_targets(
                    dict(event, **{"id": str(mock_random.uuid4()), "replay-name": self.name}),
                    transform_input=False,
                )
        self.state = ev.ReplayState.COMPLETED
        self.end_time = unix_time()

    ev.Replay.replay_events = replay_events
    return "replays honour their window and FilterArns"


def main():
    jsonpath_status = _cache_jsonpath_parse()
    try:
        import moto
        from moto.server import main as moto_main
    except ImportError as err:
        print(
            f"{PREFIX} moto server is not installed ({err}); "
            "install it with: pip install 'moto[server]==5.2.1'",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_MOTO_MISSING

    status = _patch_stepfunctions_deepcopy()
    ddb_status = _serialize_dynamodb_writes()
    replay_status = _replay_window_and_rules()
    print(
        f"{PREFIX} moto {moto.__version__}: {status}; {jsonpath_status}; {ddb_status}; {replay_status}",
        file=sys.stderr,
        flush=True,
    )
    moto_main(sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
