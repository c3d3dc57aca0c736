"""moto_server with orderflow's fixes for known moto bugs; same CLI as moto_server.

Usage (what tools/emulator runs):

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

Bounded state (fixes 4-9): moto keeps everything forever
--------------------------------------------------------
moto 5.2.1 never trims what a long-running local stack accumulates, and
several lookups scan all of it, so memory and latency grow with every order
(0.7 GB after 300 orders, 5.5 GB after 1,000, swapping after 2,500). Each
fix below names the upstream code, why it grows, and what the shim keeps; the
bounds are environment variables (defaults in BOUNDS) so tests can use small
ones. local/README.md says what the local stack keeps and for how long.

4. Step Functions (moto/stepfunctions/models.py StateMachineInstance.executions,
   moto/stepfunctions/parser/models.py start_execution/send_task_*): every
   execution stays in state_machine.executions with its deep-copied state
   machine, its worker environment and its whole event history; describe and
   the name check scan the list, and SendTaskSuccess/Failure/Heartbeat scan
   every execution of every state machine for the token (O(executions) each).
   Fix: the list indexes executions by ARN and name; a finished execution is
   queued and, beyond MOTO_SHIM_SFN_FINISHED_MAX per state machine, dropped
   (its name is remembered, so a name stays unique as on AWS); task tokens map
   to their execution in a dict filled when the interpreter registers the
   token, so a callback is O(1). The interpreter's thread list
   (moto/stepfunctions/parser/utils.py TMP_THREADS, appended 3x per execution
   and never read) is pruned of finished threads.
5. Kinesis (moto/kinesis/models.py Shard): records are never trimmed, and
   put_record finds the last sequence number with list(self.records.keys())
   while get_records walks every record from the first: O(records) per call.
   Fix: the shard keeps the last MOTO_SHIM_KINESIS_MAX_RECORDS records (AWS:
   the stream's retention, 24 h), put_record counts on from a stored next
   sequence number and get_records indexes by sequence number: O(1) and
   O(limit). Puts and reads of a shard take one lock: moto serves requests on
   threads, and two concurrent PutRecords drew the same sequence number, the
   second overwriting the first: a record lost without an error (tools/emulator's
   concurrent-puts test, with MOTO_SHIM_SWITCH_INTERVAL making threads switch
   often, loses records in every run without the lock).
6. SQS (moto/sqs/models.py Queue.delete_message, Message.mark_received):
   every receipt handle of every deleted message is kept in
   queue.deleted_messages forever, and each delete scans every message's
   handle list and rebuilds the message list. Fix: the queue indexes messages
   by receipt handle (delete and ChangeMessageVisibility are O(1) lookups), a
   message keeps its last 16 handles, and deleted handles are remembered up to
   MOTO_SHIM_SQS_DELETED_MAX per queue (a repeated delete of one of them
   succeeds, as on AWS).
7. DynamoDB Streams (moto/dynamodb/models/table.py StreamShard,
   moto/dynamodbstreams/models.py): a table's stream keeps every record, with
   sequence number = len(items) + starting_sequence_number, and every
   GetShardIterator and GetRecords stores a new iterator forever. Fix: the
   shard keeps the last MOTO_SHIM_DDB_STREAM_MAX_RECORDS records and moves
   starting_sequence_number by what it trims, so sequence numbers go on and
   TRIM_HORIZON/AT/AFTER_SEQUENCE_NUMBER still address the right record; an
   iterator below the trim answers TrimmedDataAccessException, as on AWS.
   Iterators are kept up to MOTO_SHIM_DDB_STREAM_MAX_ITERATORS (then
   ExpiredIteratorException, as AWS answers after 15 minutes).
8. EventBridge archives (moto/events/models.py Archive.events) keep every
   archived event; SNS topics (moto/sns/models.py Topic.sent_notifications)
   every published message, for moto's own inspection. Fix: both keep the
   last MOTO_SHIM_EVENTS_ARCHIVE_MAX / MOTO_SHIM_SNS_SENT_MAX.
9. GET /moto-api/orderflow/stats answers the sizes of all of the above as
   JSON, for tests and for finding the next thing that grows (with
   MOTO_SHIM_TRACEMALLOC=1 also where Python's memory is: slow, diagnosis only).
10. DynamoDB TransactWriteItems (moto/dynamodb/models/__init__.py
   transact_write_items) deep-copies every table an item names, once per
   item, to roll back a failed transaction by putting the copies in place of
   the tables: a reservation of three SKUs copies the whole inventory table
   (every reservation ever made) four times, so each order costs more CPU and
   allocation than the one before. Fix: before each write the one item it
   changes is copied (and its table's stream records remembered), and a failed
   transaction puts those back; checks, order and errors are upstream's.
11. EventBridge replays (moto/events/models.py Replay.replay_events) send
   every archived event to every rule of the bus: they ignore
   EventStartTime/EventEndTime and the destination's FilterArns, so a replay of
   one hour to one consumer's rule re-delivers the whole archive to everyone
   (`orderflow events replay`). Fix: the same loop, over the archived events
   whose time is inside the window, to the rules named by FilterArns (all
   rules when there are none), as AWS does. The archive holds its last
   MOTO_SHIM_EVENTS_ARCHIVE_MAX events (fix 8): older ones are not replayed.
12. A failed Lambda Invoke is reported as "Exception". When Step Functions'
   call to Lambda's Invoke API fails (a 500 ServiceException, a 429
   TooManyRequestsException, ...), AWS reports the task's error as
   Lambda.<error code> (Lambda.ServiceException, Lambda.TooManyRequestsException:
   the names AWS recommends retrying,
   https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
   moto 5.2.1 reports every such failure as "Exception" (StateTaskLambda._from_error
   in moto/stepfunctions/parser/asl/component/state/exec/state_task/state_task_lambda.py),
   so a production definition's retriers never match locally. Fix: a botocore
   ClientError from Invoke is reported as "Lambda." + its error code, in the task's
   error and its LambdaFunctionFailed history event; function errors and timeouts
   are left as they are.
13. Step Functions parses the definition again for every execution
   (moto/stepfunctions/parser/backend/execution_worker.py
   _get_evaluation_entrypoint -> AmazonStateLanguageParser.parse): the ANTLR
   parse of our 500-line definition costs about 90 ms of CPU, the largest
   single share of moto's one core under load (measured with
   MOTO_SHIM_PROFILE=1, below). Fix: the parse tree is kept per definition
   text (it is only read afterwards) and each execution still gets its own
   evaluation components from the preprocessor, so no state is shared
   between executions.
14. Every task of an execution builds a new boto3 client
   (moto/stepfunctions/parser/asl/utils/boto_client.py boto_client_for): a
   service-model lookup and an SSL context, 5-8 ms of CPU per Lambda invoke or
   SQS send. Fix: one client per (region, service), built once; boto3 clients
   are safe to share between threads, and their configuration (no retries,
   the timeouts) is upstream's.
15. Diagnosis: with MOTO_SHIM_PROFILE=1, GET /moto-api/orderflow/stats also
   answers each operation's count, wall time and CPU time and the process's CPU
   time (`make bench` section 5 shows where the emulator's time went); with
   MOTO_SHIM_PROFILE=samples also what the running threads were doing, sampled
   every 5 ms (slower).
16. Every request looks its backend up under one server-wide lock
   (moto/moto_server/werkzeug_app.py get_application -> get_backend_for_host),
   and the lookup asks `host in backends.list_of_moto_modules()`, which lists
   moto's package directory and stats each of its ~180 entries: for an AWS host
   name the answer is always no, after 180 system calls, with every other
   request waiting on the lock (the profile showed most request threads waiting
   there). Fix: the list is read once; the package does not change while the
   server runs.
17. werkzeug logs each request through colorama under the logging lock (9% of
   the samples). Fix: the request log is off unless MOTO_SHIM_REQUEST_LOG=1;
   warnings and errors are still printed.
18. SQS receive is quadratic in the queue's length
   (moto/sqs/models.py receive_message -> is_message_valid_based_on_retention_period
   -> get_queue_attributes): for every message it hands out, moto builds all of
   the queue's attributes three times over, and three of them count the queue's
   messages, each asking the clock for every message. Draining a capture queue
   of 3,000 events took minutes, and each received work message cost a scan of
   its queue. And each receive builds the list of all visible messages (the
   clock read for every one) to take the first ten. Fix: the retention check
   reads the queue's retention period, GetQueueAttributes builds the attributes
   once per call, and a receive looks at the messages only until it has its
   ten. Every SendMessage also builds all the attributes (to read
   ContentBasedDeduplication), so a send costs a count of the queue: a capture
   queue of n events cost O(n^2). Fix: the retention check reads the queue's
   retention period; Queue.attributes is a mapping that computes a value when it
   is read (the three counts only then, with one clock read each);
   GetQueueAttributes builds them once per call; a receive looks at the
   messages only until it has its ten. The values and the errors are upstream's.

When to delete it
-----------------
When the pinned moto (Makefile / docs: moto[server]==5.2.1) is raised to a
release that contains getmoto/moto#10093, the shim prints "not needed" for it;
the JSONPath cache can go when moto or jsonpath_ng caches parsed paths itself,
the Lambda error names when moto reports Lambda.<code> (the shim then says "not needed").
With neither fix needed, tools/emulator can run moto_server directly and this
file can go.
"""

import collections
import copy
import functools
import inspect
import os
import sys
import threading
import weakref

# Exit status when moto (or its server extras) is not installed; tools/emulator
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


def _cache_asl_parse():
    """Keeps the ASL parse tree per definition (fix 13); returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "asl parse cache off (MOTO_SHIM_DISABLE=1)"
    from moto.stepfunctions.parser.asl.parse import asl_parser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    parse = asl_parser.AmazonStateLanguageParser.parse
    trees = {}
    lock = threading.Lock()

    def cached(definition):
        with lock:
            tree = trees.get(definition)
        if tree is None:
            _, tree = parse(definition)  # raises ASLParserException as upstream does
            with lock:
                if len(trees) >= 64:
                    trees.pop(next(iter(trees)))
                trees[definition] = tree
        return Preprocessor().visit(tree), tree

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(cached)
    return "cached asl parse trees"


def _reuse_boto_clients():
    """One boto3 client per (region, service) for Step Functions tasks (fix 14)."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "boto clients per task (MOTO_SHIM_DISABLE=1)"
    import importlib
    import pkgutil

    from moto.stepfunctions.parser.asl import component
    from moto.stepfunctions.parser.asl.utils import boto_client

    build = boto_client.boto_client_for
    clients = {}
    lock = threading.Lock()

    def reused(region, service, state_credentials=None):
        key = (region, service)
        with lock:
            c = clients.get(key)
            if c is None:
                c = clients[key] = build(region, service, state_credentials)
        return c

    boto_client.boto_client_for = reused
    patched = 0
    for mod in pkgutil.walk_packages(component.__path__, component.__name__ + "."):
        m = importlib.import_module(mod.name)
        if getattr(m, "boto_client_for", None) is build:
            m.boto_client_for = reused
            patched += 1
    return f"reused boto clients ({patched} modules)"


def _cache_module_list():
    """Reads moto's list of service modules once (fix 16); returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "module list read per request (MOTO_SHIM_DISABLE=1)"
    from moto import backends

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    return f"module list read once ({len(modules)})"


def _quiet_request_log():
    """Turns werkzeug's per-request log off (fix 17); returns a status line."""
    if os.environ.get("MOTO_SHIM_REQUEST_LOG") == "1" or os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "request log on"
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return "request log off (MOTO_SHIM_REQUEST_LOG=1 turns it on)"


def _cheap_sqs_attributes():
    """Keeps SQS attribute reads linear (fix 18); returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "sqs attributes per message (MOTO_SHIM_DISABLE=1)"
    from moto.core.utils import unix_time
    from moto.sqs import models as sqs_models

    import collections.abc
    import json as _json

    from moto.core.utils import camelcase_to_underscores, unix_time_millis

    backend = sqs_models.SQSBackend
    queue_cls = sqs_models.Queue
    get_attributes = backend.get_queue_attributes

    def visible(m, now):
        return now > m.visible_at and not now < m.delayed_until

    def counts(queue, which):
        now = unix_time_millis()
        ms = list(queue._messages)
        if which == "delayed":
            return sum(1 for m in ms if now < m.delayed_until)
        return sum(1 for m in ms if not now > m.visible_at)  # not visible

    class Attributes(collections.abc.Mapping):
        """Queue.attributes (upstream's names and values), each computed when read."""

        def __init__(self, queue):
            self._q = queue
            keys = list(queue.BASE_ATTRIBUTES)
            if queue.fifo_queue:
                keys += queue.FIFO_ATTRIBUTES
            if queue.kms_master_key_id:
                keys += queue.KMS_ATTRIBUTES
            self._keys = list(dict.fromkeys(keys))

        def __getitem__(self, key):
            if key not in self._keys:
                raise KeyError(key)
            q = self._q
            if key == "RedrivePolicy":
                v = q.redrive_policy
                v = _json.dumps(v) if v else v
            elif key == "Policy":
                v = q.policy
            else:
                v = getattr(q, camelcase_to_underscores(key))
            return str(v).lower() if isinstance(v, bool) else v

        def __iter__(self):
            return iter(self._keys)

        def __len__(self):
            return len(self._keys)

    def valid(self, queue_name, message):
        queue = self.get_queue(queue_name)
        return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()

    def attributes(self, queue_name, attribute_names):
        if not attribute_names or "All" in attribute_names:
            out = get_attributes(self, queue_name, attribute_names)
            return dict(out) if isinstance(out, Attributes) else out
        queue = self.get_queue(queue_name)
        valid_names = ["All"] + queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES
        if next((n for n in attribute_names if n not in valid_names), None) is not None:
            return get_attributes(self, queue_name, attribute_names)  # upstream's error
        every = queue.attributes
        return {n: every[n] for n in attribute_names if n in every and every[n] is not None}

    class Visible:
        """Queue.messages, computed only as far as it is read."""

        def __init__(self, queue):
            self._all = list(queue._messages)  # a snapshot: sends and deletes go on

        def __iter__(self):
            now = unix_time_millis()
            return (m for m in self._all if visible(m, now))

        def __len__(self):
            return sum(1 for _ in self)

        def __bool__(self):
            return next(iter(self), None) is not None

    backend.is_message_valid_based_on_retention_period = valid
    backend.get_queue_attributes = attributes
    queue_cls.attributes = property(Attributes)
    queue_cls.messages = property(Visible)
    queue_cls.approximate_number_of_messages = property(lambda q: len(Visible(q)))
    queue_cls.approximate_number_of_messages_not_visible = property(lambda q: counts(q, "not visible"))
    queue_cls.approximate_number_of_messages_delayed = property(lambda q: counts(q, "delayed"))
    return "sqs attributes built once per call"


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


# Bounds of the state the shim trims (fixes 4-8); each can be set in the environment.
BOUNDS = {
    "MOTO_SHIM_SFN_FINISHED_MAX": 1000,
    "MOTO_SHIM_KINESIS_MAX_RECORDS": 10000,
    "MOTO_SHIM_SQS_DELETED_MAX": 10000,
    "MOTO_SHIM_DDB_STREAM_MAX_RECORDS": 10000,
    "MOTO_SHIM_DDB_STREAM_MAX_ITERATORS": 10000,
    "MOTO_SHIM_EVENTS_ARCHIVE_MAX": 10000,
    "MOTO_SHIM_SNS_SENT_MAX": 1000,
}

# A message keeps this many receipt handles (the current one and the last ones before).
SQS_HANDLES_PER_MESSAGE = 16


def _bound(name):
    try:
        return max(1, int(os.environ.get(name, BOUNDS[name])))
    except ValueError:
        return BOUNDS[name]


def _trim_front(seq, cap):
    """Deletes the oldest entries of list seq down to cap, in chunks of a tenth of
    cap so that trimming costs O(1) per append on average; returns how many."""
    over = len(seq) - cap
    if over <= cap // 10:
        return 0
    del seq[:over]
    return over


class _BoundedList(list):
    """A list that forgets its oldest entries beyond cap (on append)."""

    def __init__(self, cap, items=()):
        super().__init__(items)
        self.cap = cap
        _trim_front(self, cap)

    def append(self, item):
        super().append(item)
        _trim_front(self, self.cap)


class _BoundedSet:
    """The set operations moto uses on deleted receipt handles, remembering the
    last cap entries."""

    def __init__(self, cap):
        self._d = collections.OrderedDict()
        self._cap = cap

    def __contains__(self, key):
        return key in self._d

    def __len__(self):
        return len(self._d)

    def __iter__(self):
        return iter(self._d)

    def add(self, key):
        self.update((key,))

    def update(self, keys):
        for k in keys:
            self._d[k] = None
            self._d.move_to_end(k)
        while len(self._d) > self._cap:
            self._d.popitem(last=False)


class _BoundedDict(collections.OrderedDict):
    """A dict that forgets its oldest insertions beyond cap."""

    def __init__(self, cap):
        super().__init__()
        self.cap = cap

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        while len(self) > self.cap:
            self.popitem(last=False)


# Step Functions: task token -> execution, and execution ARN -> its state machine's
# list. Weak values: a dropped execution (or a reset) takes its entries with it.
_SFN_TOKENS = weakref.WeakValueDictionary()
_SFN_LISTS = weakref.WeakValueDictionary()


class _Executions(list):
    """state_machine.executions, indexed by ARN and name, dropping the oldest
    finished executions beyond keep."""

    def __init__(self, keep):
        super().__init__()
        self._lock = threading.Lock()
        self.keep = keep
        self.by_arn = {}
        self.by_name = {}
        self.finished = collections.deque()
        self.dropped = _BoundedDict(keep * 100)  # name -> ARN: names stay unique

    def __deepcopy__(self, memo):
        return []  # a state machine's snapshot for a new execution has none

    def append(self, execution):
        with self._lock:
            super().append(execution)
            self.by_arn[execution.execution_arn] = execution
            self.by_name[execution.name] = execution
        _SFN_LISTS[execution.execution_arn] = self

    def finish(self, execution):
        with self._lock:
            self.finished.append(execution)
            while len(self.finished) > self.keep:
                old = self.finished.popleft()
                try:
                    super().remove(old)
                except ValueError:
                    pass
                self.by_arn.pop(old.execution_arn, None)
                if self.by_name.get(old.name) is old:
                    del self.by_name[old.name]
                self.dropped[old.name] = old.execution_arn
                _SFN_LISTS.pop(old.execution_arn, None)
                _forget_tokens(old)


def _forget_tokens(execution):
    worker = getattr(execution, "exec_worker", None)
    env = getattr(worker, "env", None)
    pool = getattr(getattr(env, "callback_pool_manager", None), "_pool", None)
    for token in list(pool or ()):
        _SFN_TOKENS.pop(token, None)


def _execution_status(execution):
    status = getattr(execution, "exec_status", None)  # the parser's Execution
    if status is not None:
        return getattr(status, "value", status)
    if hasattr(execution, "exec_status"):
        return "RUNNING"  # appended, not started yet
    return getattr(execution, "status", None)


class _PruningList(list):
    """moto's TMP_THREADS: finished threads are dropped as new ones come."""

    def append(self, thread):
        super().append(thread)
        if len(self) > 256:
            self[:] = [t for t in self if t.is_alive()]


def _transact_without_table_copies():
    """Fix 10: TransactWriteItems undoes per item, not by copying tables; returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "dynamodb transactions copy whole tables (MOTO_SHIM_DISABLE=1)"
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.comparisons import get_filter_expression as filter_expression

    def transact_write_items(self, transact_items):
        # Upstream (moto/dynamodb/models/__init__.py) deep-copies every table an item
        # names, once per item, before it starts, and puts the copies in place of the
        # tables when the transaction fails. Here: before each write the item it changes
        # is copied (and the table's stream records counted), and a failed transaction
        # puts those items back. The checks, the order and the errors are upstream's.
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        undo = []  # (table, hash value, range value, the item before, or None)
        streams = {}  # table name -> (shard, its records, its starting sequence number)

        def remember(table_name, key):
            table = self.get_table(table_name)
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
            before = table.get_item(hash_value, range_value)
            undo.append((table, hash_value, range_value, copy.deepcopy(before)))
            shard = table.stream_shard
            if shard is not None and table_name not in streams:
                streams[table_name] = (shard, list(shard.items), shard.starting_sequence_number)

        def rollback():
            for table, hash_value, range_value, before in reversed(undo):
                if range_value is not None:
                    if before is None:
                        table.items.get(hash_value, {}).pop(range_value, None)
                    else:
                        table.items[hash_value][range_value] = before
                elif before is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = before
            for shard, items, start in streams.values():
                shard.items[:] = items
                shard.starting_sequence_number = start

        target_items = set()

        def check_unicity(table_name, key):
            item = (str(table_name), str(dict(sorted(key.items()))))
            if item in target_items:
                raise MultipleTransactionsException()
            target_items.add(item)

        errors = []
        for item in transact_items:
            original_item = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                check_unicity(table_name, key)
                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition_op = filter_expression(
                        condition_expression, expression_attribute_names, expression_attribute_values
                    )
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                if op_type != "ConditionCheck":
                    remember(table_name, key)
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], condition_expression=condition_expression,
                                  expression_attribute_names=expression_attribute_names,
                                  expression_attribute_values=expression_attribute_values)
                elif op_type == "Delete":
                    self.delete_item(table_name, key, condition_expression=condition_expression,
                                     expression_attribute_names=expression_attribute_names,
                                     expression_attribute_values=expression_attribute_values)
                elif op_type == "Update":
                    self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                     condition_expression=condition_expression,
                                     expression_attribute_names=expression_attribute_names,
                                     expression_attribute_values=expression_attribute_values)
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                rollback()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # noqa: E722 as upstream: any other failure is an error entry
                errors.append((type(e).__name__, str(e), original_item))
        if any(code is not None for code, _, _ in errors):
            rollback()
            raise TransactionCanceledException(errors)

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items
    return "dynamodb transactions undo per item"


def _bound_stepfunctions():
    """Fix 4: bounded executions, O(1) lookups and callbacks; returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "stepfunctions executions unbounded (MOTO_SHIM_DISABLE=1)"
    from moto.stepfunctions import exceptions as sfn_errors
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser import utils as parser_utils
    from moto.stepfunctions.parser.api import ExecutionStatus, InvalidToken, TaskDoesNotExist, TaskTimedOut
    from moto.stepfunctions.parser.asl.eval.callback import callback as cb
    from moto.stepfunctions.parser.backend import execution as exec_mod
    from moto.stepfunctions.parser.backend import execution_worker as worker_mod

    keep = _bound("MOTO_SHIM_SFN_FINISHED_MAX")

    # TMP_THREADS is imported by name in several modules: rebind it everywhere.
    old_threads = parser_utils.TMP_THREADS
    threads = _PruningList(t for t in old_threads if t.is_alive())
    for mod in list(sys.modules.values()):
        if getattr(mod, "TMP_THREADS", None) is old_threads:
            mod.TMP_THREADS = threads

    init = sfn_models.StateMachineInstance.__init__

    def state_machine_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.executions = _Executions(keep)

    sfn_models.StateMachineInstance.__init__ = state_machine_init

    def handle_name_input_idempotency(self, name, execution_input):
        executions = self.executions
        if not isinstance(executions, _Executions):
            return orig_idempotency(self, name, execution_input)
        execution = executions.by_name.get(name)
        if execution is not None:
            if execution_input == execution.execution_input and _execution_status(execution) == "RUNNING":
                return execution
            raise sfn_errors.ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")
        if name in executions.dropped:
            raise sfn_errors.ExecutionAlreadyExists("Execution Already Exists: '" + executions.dropped[name] + "'")
        return None

    orig_idempotency = sfn_models.StateMachine._handle_name_input_idempotency
    sfn_models.StateMachine._handle_name_input_idempotency = handle_name_input_idempotency

    orig_describe = sfn_models.StepFunctionBackend.describe_execution

    def describe_execution(self, execution_arn):
        executions = _SFN_LISTS.get(execution_arn)
        execution = executions.by_arn.get(execution_arn) if executions is not None else None
        if execution is None:
            return orig_describe(self, execution_arn)  # validation and the error, as before
        return execution

    sfn_models.StepFunctionBackend.describe_execution = describe_execution

    terminated = exec_mod.BaseExecutionWorkerCommunication.terminated

    def on_terminated(self):
        terminated(self)
        executions = _SFN_LISTS.get(self.execution.exec_arn)
        if executions is not None:
            executions.finish(self.execution)

    exec_mod.BaseExecutionWorkerCommunication.terminated = on_terminated

    get_env = worker_mod.ExecutionWorker._get_evaluation_environment

    def evaluation_environment(self):
        env = get_env(self)
        env.callback_pool_manager._shim_execution = getattr(self._execution_communication, "execution", None)
        return env

    worker_mod.ExecutionWorker._get_evaluation_environment = evaluation_environment

    for name in ("add", "add_activity_task"):
        orig_add = getattr(cb.CallbackPoolManager, name)

        def add(self, callback_id, *args, __orig=orig_add, **kwargs):
            endpoint = __orig(self, callback_id, *args, **kwargs)
            execution = getattr(self, "_shim_execution", None)
            if execution is not None:
                _SFN_TOKENS[callback_id] = execution
            return endpoint

        setattr(cb.CallbackPoolManager, name, add)

    def callback(task_token, running_only, call):
        # Upstream: scan _get_executions(RUNNING) (success, heartbeat) or every
        # execution (failure) for the one whose pool knows the token.
        execution = _SFN_TOKENS.get(task_token)
        if execution is None or (running_only and _execution_status(execution) != ExecutionStatus.RUNNING):
            raise InvalidToken()
        try:
            if call(execution.exec_worker.env.callback_pool_manager):
                return
        except cb.CallbackNotifyConsumerError as consumer_error:
            if isinstance(consumer_error, cb.CallbackConsumerTimeout):
                raise TaskTimedOut()
            raise TaskDoesNotExist()
        raise InvalidToken()

    def send_task_heartbeat(self, task_token):
        callback(task_token, True, lambda pool: pool.heartbeat(callback_id=task_token))

    def send_task_success(self, task_token, outcome):
        result = cb.CallbackOutcomeSuccess(callback_id=task_token, output=outcome)
        callback(task_token, True, lambda pool: pool.notify(callback_id=task_token, outcome=result))

    def send_task_failure(self, task_token, error=None, cause=None):
        result = cb.CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause)
        callback(task_token, False, lambda pool: pool.notify(callback_id=task_token, outcome=result))
        return parser_models.SendTaskFailureOutput()

    backend = parser_models.StepFunctionsParserBackend
    backend.send_task_heartbeat = send_task_heartbeat
    backend.send_task_success = send_task_success
    backend.send_task_failure = send_task_failure
    return f"stepfunctions keeps {keep} finished executions per state machine, callbacks by token"


def _bound_kinesis():
    """Fix 5: trimmed shards, O(1) put_record, O(limit) get_records; returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "kinesis shards unbounded (MOTO_SHIM_DISABLE=1)"
    from moto.kinesis.models import Record, Shard

    cap = _bound("MOTO_SHIM_KINESIS_MAX_RECORDS")
    # moto serves requests on threads: two PutRecords on one shard must not draw the
    # same sequence number (the second would overwrite the first record: a lost record),
    # and a read must not see the shard's dict in mid-change.
    lock = threading.RLock()

    def put_record(self, partition_key, data, explicit_hash_key):
        with lock:
            seq = getattr(self, "_shim_next", None)
            if seq is None:
                seq = next(reversed(self.records)) + 1 if self.records else 1
            self.records[seq] = Record(partition_key, data, seq, explicit_hash_key)
            self._shim_next = seq + 1
            while len(self.records) > cap:
                self.records.popitem(last=False)
            return str(seq)

    def get_records(self, last_sequence_id, limit):
        with lock:
            return _get_records(self, last_sequence_id, limit)

    def _get_records(self, last_sequence_id, limit):
        last = int(last_sequence_id)
        if not self.records:
            return [], last, 0
        first, newest = next(iter(self.records)), next(reversed(self.records))
        start = max(last + 1, first)
        end = newest if not limit else min(newest, start + int(limit) - 1)
        results = [r for r in (self.records.get(s) for s in range(start, end + 1)) if r is not None]
        if not results:
            return [], last, 0
        behind = self.records[newest].created_at - results[-1].created_at
        return results, results[-1].sequence_number, int(behind * 1000)

    Shard.put_record = put_record
    Shard.get_records = get_records
    def under_lock(f):
        def locked(self):
            with lock:
                return f(self)

        return locked

    Shard.get_min_sequence_number = under_lock(lambda self: next(iter(self.records)) if self.records else 0)
    Shard.get_max_sequence_number = under_lock(lambda self: next(reversed(self.records)) if self.records else 0)
    return f"kinesis keeps {cap} records per shard, one put or read at a time"


def _bound_sqs():
    """Fix 6: receipt handles indexed and bounded; returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "sqs receipt handles unbounded (MOTO_SHIM_DISABLE=1)"
    from moto.core.utils import unix_time_millis
    from moto.sqs import models as sqs_models
    from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid

    cap = _bound("MOTO_SHIM_SQS_DELETED_MAX")
    owner = weakref.WeakKeyDictionary()  # message -> the queue that holds it
    Queue, Message = sqs_models.Queue, sqs_models.Message

    queue_init = Queue.__init__

    def init(self, *args, **kwargs):
        self._shim_handles = {}  # receipt handle -> message
        queue_init(self, *args, **kwargs)
        self.deleted_messages = _BoundedSet(cap)

    def forget(queue, message):
        for h in message.all_receipt_handles:
            if h is not None and queue._shim_handles.get(h) is message:
                del queue._shim_handles[h]

    add = Queue.add_message

    def add_message(self, message):
        before = owner.get(message)
        if before is not None and before is not self:
            forget(before, message)  # moved to the DLQ
        owner[message] = self
        for h in message.all_receipt_handles:
            if h is not None:
                self._shim_handles[h] = message
        add(self, message)

    def delete_message(self, receipt_handle):
        if receipt_handle in self.deleted_messages:
            return  # already deleted: deleting again succeeds
        message = self._shim_handles.get(receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid()
        forget(self, message)
        self.pending_messages.discard(message)
        self.deleted_messages.update(h for h in message.all_receipt_handles if h is not None)
        try:
            self._messages.remove(message)
        except ValueError:
            pass
        owner.pop(message, None)

    mark = Message.mark_received

    def mark_received(self, visibility_timeout=None):
        mark(self, visibility_timeout)
        queue = owner.get(self)
        old = self._old_receipt_handles
        while len(old) > SQS_HANDLES_PER_MESSAGE - 1:
            h = old.pop(0)
            if queue is not None and h is not None and queue._shim_handles.get(h) is self:
                del queue._shim_handles[h]
        if queue is not None:
            queue._shim_handles[self.receipt_handle] = self

    def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
        # Upstream scans every message's handles; the same checks, by index.
        queue = self.get_queue(queue_name)
        message = queue._shim_handles.get(receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid
        given = unix_time_millis() + int(visibility_timeout) * 1000
        if given - message.sent_timestamp > 43200 * 1000:
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            queue.pending_messages.remove(message)

    purge = sqs_models.SQSBackend.purge_queue

    def purge_queue(self, queue_name):
        purge(self, queue_name)
        self.get_queue(queue_name)._shim_handles.clear()

    Queue.__init__ = init
    Queue.add_message = add_message
    Queue.delete_message = delete_message
    Message.mark_received = mark_received
    sqs_models.SQSBackend.change_message_visibility = change_message_visibility
    sqs_models.SQSBackend.purge_queue = purge_queue
    return f"sqs indexes receipt handles, remembers {cap} deleted per queue"


def _bound_dynamodb_streams():
    """Fix 7: trimmed table streams and bounded iterators; returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "dynamodb streams unbounded (MOTO_SHIM_DISABLE=1)"
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams import models as streams_models

    cap = _bound("MOTO_SHIM_DDB_STREAM_MAX_RECORDS")
    iterators = _bound("MOTO_SHIM_DDB_STREAM_MAX_ITERATORS")

    add = StreamShard.add

    def shard_add(self, old, new):
        add(self, old, new)
        # Upstream: seq = len(items) + starting_sequence_number, so what is trimmed
        # from the front moves the start: the next record's number is unchanged.
        self.starting_sequence_number += _trim_front(self.items, cap)

    get = StreamShard.get

    def shard_get(self, start, quantity):
        if start < self.starting_sequence_number:
            raise JsonRESTError(
                "TrimmedDataAccessException",
                f"The sequence number {start} is beyond the trim horizon of the stream "
                f"(first kept record: {self.starting_sequence_number})",
            )
        return get(self, start, quantity)

    backend_init = streams_models.DynamoDBStreamsBackend.__init__

    def init(self, *args, **kwargs):
        backend_init(self, *args, **kwargs)
        self.shard_iterators = _BoundedDict(iterators)

    def get_records(self, iterator_arn, limit):
        shard_iterator = self.shard_iterators.get(iterator_arn)
        if shard_iterator is None:
            raise JsonRESTError("ExpiredIteratorException", "Iterator expired or unknown: get a new one")
        return shard_iterator.get(limit)

    StreamShard.add = shard_add
    StreamShard.get = shard_get
    streams_models.DynamoDBStreamsBackend.__init__ = init
    streams_models.DynamoDBStreamsBackend.get_records = get_records
    return f"dynamodb streams keep {cap} records, {iterators} iterators"


def _bound_archives_and_topics():
    """Fix 8: bounded EventBridge archives and SNS sent messages; returns a status line."""
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "archives and topics unbounded (MOTO_SHIM_DISABLE=1)"
    from moto.events import models as events_models
    from moto.sns import models as sns_models

    archive_cap = _bound("MOTO_SHIM_EVENTS_ARCHIVE_MAX")
    sent_cap = _bound("MOTO_SHIM_SNS_SENT_MAX")
    archive_init = events_models.Archive.__init__
    topic_init = sns_models.Topic.__init__

    def archive(self, *args, **kwargs):
        archive_init(self, *args, **kwargs)
        self.events = _BoundedList(archive_cap, self.events)

    def topic(self, *args, **kwargs):
        topic_init(self, *args, **kwargs)
        self.sent_notifications = _BoundedList(sent_cap, self.sent_notifications)

    events_models.Archive.__init__ = archive
    sns_models.Topic.__init__ = topic
    return f"archives keep {archive_cap} events, topics {sent_cap} sent messages"


def _backends(backend_dict):
    """Yields every backend of a moto BackendDict that exists."""
    for regions in list(backend_dict.values()):
        for backend in list(regions.values()):
            yield backend


# Diagnosis only (MOTO_SHIM_PROFILE=1): where moto's one core goes. Each request's
# operation (X-Amz-Target, Action, or method and path) is counted with the wall time
# and the CPU time of the thread that served it; GET /moto-api/orderflow/stats shows
# them next to the process's whole CPU time, the rest being moto's own threads (Step
# Functions executions above all).
_PROFILE = {}
_PROFILE_LOCK = threading.Lock()


def _profile_requests():
    if os.environ.get("MOTO_SHIM_PROFILE") not in ("1", "samples"):
        return None
    import time
    from urllib.parse import parse_qs

    from moto.moto_server import werkzeug_app

    call = werkzeug_app.DomainDispatcherApplication.__call__

    def service(environ):
        # SigV4's credential scope names the service: Credential=AK/date/region/sqs/aws4_request.
        auth = environ.get("HTTP_AUTHORIZATION", "")
        i = auth.find("Credential=")
        if i >= 0:
            parts = auth[i + 11 :].split(",")[0].split("/")
            if len(parts) >= 4:
                return parts[3]
        return "?"

    def action(environ):
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.rsplit(".", 1)[-1]
        qs = parse_qs(environ.get("QUERY_STRING", ""))
        if "Action" in qs:
            return qs["Action"][0]
        if environ.get("REQUEST_METHOD") == "POST" and "form" in environ.get("CONTENT_TYPE", ""):
            try:
                import io

                n = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(n)
                environ["wsgi.input"] = io.BytesIO(body)
                a = parse_qs(body.decode("utf-8", "replace")).get("Action")
                if a:
                    return a[0]
            except Exception:  # diagnosis only
                pass
        return environ.get("REQUEST_METHOD", "") + " " + "/".join(environ.get("PATH_INFO", "").split("/")[:2])

    def operation(environ):
        return service(environ) + ":" + action(environ)

    def timed(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/moto-api"):  # the stats themselves
            return call(self, environ, start_response)
        op = operation(environ)
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return call(self, environ, start_response)
        finally:
            dw, dc = time.perf_counter() - w0, time.thread_time() - c0
            with _PROFILE_LOCK:
                e = _PROFILE.setdefault(op, [0, 0.0, 0.0])
                e[0] += 1
                e[1] += dw
                e[2] += dc

    werkzeug_app.DomainDispatcherApplication.__call__ = timed
    if os.environ.get("MOTO_SHIM_PROFILE") == "samples":  # slower: a thread looks every 5 ms
        _sample_threads()
    return "profiling requests"



def _sample_threads():
    """Diagnosis only (MOTO_SHIM_PROFILE=1): every 5 ms, the stack of each thread that is
    not waiting (on a lock, a condition, a socket or select) is counted; stats shows the
    most frequent. With one interpreter lock, the counts are moto's CPU shares."""
    import time
    import traceback

    idle = ("threading.py", "selectors.py", "socket.py", "socketserver.py", "queue.py", "ssl.py")

    def loop():
        me = threading.get_ident()
        while True:
            time.sleep(0.005)
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = traceback.extract_stack(frame)
                if not stack or os.path.basename(stack[-1].filename) in idle:
                    continue
                if stack[-1].name in ("wait", "sleep", "_wait_for_tstate_lock", "readinto", "accept"):
                    continue
                key = " <- ".join(f"{os.path.basename(fr.filename)}:{fr.lineno}:{fr.name}" for fr in reversed(stack[-16:]))
                with _PROFILE_LOCK:
                    _SAMPLES[key] = _SAMPLES.get(key, 0) + 1
                    for fr in {(os.path.basename(fr.filename), fr.name) for fr in stack}:
                        k = "(incl) " + fr[0] + ":" + fr[1]
                        _SAMPLES[k] = _SAMPLES.get(k, 0) + 1
                    _SAMPLES["(total)"] = _SAMPLES.get("(total)", 0) + 1

    threading.Thread(target=loop, daemon=True, name="shim-sampler").start()


_SAMPLES = {}


def profile():
    import time

    with _PROFILE_LOCK:
        ops = sorted(_PROFILE.items(), key=lambda kv: -kv[1][2])
    return {
        "processCPU": time.process_time(),
        "requestCPU": sum(v[2] for _, v in ops),
        "samples": sorted(_SAMPLES.items(), key=lambda kv: -kv[1])[:150],
        "ops": [{"op": k, "count": v[0], "wallS": round(v[1], 3), "cpuS": round(v[2], 3)} for k, v in ops],
    }


def stats():
    """The sizes the shim bounds (fix 9), for GET /moto-api/orderflow/stats."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends
    from moto.events.models import events_backends
    from moto.kinesis.models import kinesis_backends
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser import utils as parser_utils
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    out = {"stepfunctions": {}, "kinesis": {}, "sqs": {}, "dynamodbStreams": {}, "archives": {}, "topics": {}}
    for backends in (stepfunctions_backends, stepfunctions_parser_backends):
        for b in _backends(backends):
            for sm in b.state_machines:
                ex = sm.executions
                out["stepfunctions"][sm.arn] = {
                    "executions": len(ex),
                    "running": sum(1 for e in list(ex) if _execution_status(e) == "RUNNING"),
                    "droppedNames": len(getattr(ex, "dropped", ())),
                }
    out["stepfunctionsTokens"] = len(_SFN_TOKENS)
    out["stepfunctionsThreads"] = len(parser_utils.TMP_THREADS)
    for b in _backends(kinesis_backends):
        for stream in b.streams.values():
            out["kinesis"][stream.stream_name] = {sid: len(sh.records) for sid, sh in stream.shards.items()}
    for b in _backends(sqs_backends):
        for q in b.queues.values():
            out["sqs"][q.name] = {
                "messages": len(q._messages),
                "deletedHandles": len(q.deleted_messages),
                "indexedHandles": len(getattr(q, "_shim_handles", ())),
            }
    for b in _backends(dynamodb_backends):
        for t in b.tables.values():
            if getattr(t, "stream_shard", None) is not None:
                out["dynamodbStreams"][t.name] = {
                    "records": len(t.stream_shard.items),
                    "startingSequenceNumber": str(t.stream_shard.starting_sequence_number),
                }
    out["dynamodbStreamIterators"] = sum(len(b.shard_iterators) for b in _backends(dynamodbstreams_backends))
    for b in _backends(events_backends):
        for name, a in b.archives.items():
            out["archives"][name] = len(a.events)
    for b in _backends(sns_backends):
        for arn, t in b.topics.items():
            out["topics"][arn] = len(t.sent_notifications)
    out["threads"] = threading.active_count()
    if _PROFILE or os.environ.get("MOTO_SHIM_PROFILE") in ("1", "samples"):
        out["profile"] = profile()
    import tracemalloc

    if tracemalloc.is_tracing():  # MOTO_SHIM_TRACEMALLOC=1: where the memory is
        out["tracedMB"] = tracemalloc.get_traced_memory()[0] / 1e6
        top = tracemalloc.take_snapshot().statistics("traceback")[:15]
        out["top"] = [{"MB": t.size / 1e6, "count": t.count, "where": t.traceback.format()[-12:]} for t in top]
    return out


def _serve_stats():
    """Adds GET /moto-api/orderflow/stats to moto's API (fix 9)."""
    import json

    from moto.moto_api._internal import urls

    def handler(request, full_url, headers):
        return 200, {"Content-Type": "application/json"}, json.dumps(stats()).encode("utf-8")

    urls.url_paths["{0}/moto-api/orderflow/stats$"] = handler


def _name_lambda_invoke_errors():
    """Reports a failed Invoke as Lambda.<code>, as AWS does (fix 12); returns a status line."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        state_task_lambda,
    )

    cls = state_task_lambda.StateTaskLambda
    if 'error = "Exception"' not in inspect.getsource(cls._from_error):
        return "lambda invoke error names fix not needed"
    if os.environ.get("MOTO_SHIM_DISABLE") == "1":
        return "lambda invoke errors named Exception (MOTO_SHIM_DISABLE=1)"
    original = cls._from_error

    def _from_error(self, env, ex):
        event = original(self, env, ex)
        if not isinstance(ex, ClientError):
            return event
        name = "Lambda." + ex.response.get("Error", {}).get("Code", "AWSLambdaException")
        event.error_name = state_task_lambda.CustomErrorName(name)
        details = (event.event_details or {}).get("lambdaFunctionFailedEventDetails")
        if details is not None:
            details["error"] = name
        return event

    functools.update_wrapper(_from_error, original)
    cls._from_error = _from_error
    return "named lambda invoke errors Lambda.<code>"


def _replay_window_and_rules():
    """Fix 11: EventBridge replays honour their window and FilterArns; returns a status line."""
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

    # Tests of the shim's locks make threads switch often, so that a race shows up in a
    # run instead of once in a while (Python's default switch interval is 5 ms).
    if os.environ.get("MOTO_SHIM_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["MOTO_SHIM_SWITCH_INTERVAL"]))
    statuses = [
        _patch_stepfunctions_deepcopy(),
        jsonpath_status,
        _transact_without_table_copies(),  # before the lock wraps it
        _serialize_dynamodb_writes(),
        _bound_stepfunctions(),
        _bound_kinesis(),
        _bound_sqs(),
        _bound_dynamodb_streams(),
        _bound_archives_and_topics(),
        _name_lambda_invoke_errors(),
        _cache_asl_parse(),
        _reuse_boto_clients(),
        _cache_module_list(),
        _cheap_sqs_attributes(),
        _quiet_request_log(),
        _replay_window_and_rules(),
    ]
    _serve_stats()
    if _profile_requests():
        statuses.append("profiling requests")
    print(f"{PREFIX} moto {moto.__version__}: " + "; ".join(statuses), file=sys.stderr, flush=True)
    if os.environ.get("MOTO_SHIM_TRACEMALLOC") == "1":  # diagnosis only: slows moto down
        import tracemalloc

        tracemalloc.start(12)
    moto_main(sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
