"""Run INSIDE the sandbox: execute a notebook, then the grader's calls; write plain data only.

    python runner.py NOTEBOOK CALLS_JSON OUT_DIR CELL_TIMEOUT

Imports only the standard library, nbformat and nbclient (never ``instructor`` or ``helpers``):
the sandbox shows this one file, not the checkout.

Why the whole executor runs inside the sandbox and only files cross its border: every byte that
comes out of this process is untrusted anyway (the submission's code runs as the same uid and may
replace this process's results), so nothing is gained by parsing kernel messages in the grader;
exchanging plain files (JSON and ``.npy``, loaded with ``allow_pickle=False`` and size limits)
keeps the grader's process free of any object the submission made, and lets the sandbox's own
PID/network namespaces cover the kernel and its executor together.

Writes into OUT_DIR:

- ``status.json`` (rewritten after every cell): cells run, errors (name, message), events
  (``memory``, ``processes``, ``timeout``, ``disk``, ``kernel-died``), ``finished``;
- for every case ``<name>.json`` (``{"keys": [...], "error": null | "..."}``) and one
  ``<name>.<key>.npy`` per value of its ``result``.

Every output message of the kernel is also written to stdout as it arrives, so the grader counts
the notebook's output bytes (the sandbox's output limit) while it runs.
"""

import json
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

# Defined and called in the student's kernel for each case. ``result`` of the case's code may be
# one value or a dict of values; each becomes a numeric .npy (object arrays are refused: they
# would need pickle to load).
KERNEL_CALL = r"""
def __grading_call(name, code, inputs, out, tripwires):
    import json as _json, numpy as _np, importlib as _importlib, sys as _sys
    class TripWire(Exception):
        pass
    # Each trip-wired routine is replaced wherever the course's modules or the notebook's own
    # names hold it (``from helpers.retrieval import knn`` binds it in globals), then restored.
    patched = []
    for dotted in tripwires:
        module_name, attr = dotted.rsplit(".", 1)
        try:
            original = getattr(_importlib.import_module(module_name), attr)
        except Exception:
            continue
        def wire(*args, _dotted=dotted, **kwargs):
            raise TripWire(f"it calls {_dotted}, the course's own routine: this question asks "
                           "you to write it from scratch")
        holders = [m.__dict__ for m in list(_sys.modules.values())
                   if getattr(m, "__name__", "").startswith("helpers")] + [globals()]
        for holder in holders:
            for key, value in list(holder.items()):
                if value is original:
                    patched.append((holder, key, value))
                    holder[key] = wire
    namespace = dict(globals())
    for key, path in inputs.items():
        namespace[key] = _np.load(path, allow_pickle=False)
    report = {"keys": [], "error": None}
    try:
        exec(compile(code, f"<grading case {name}>", "exec"), namespace)
        result = namespace["result"]
        values = result if isinstance(result, dict) else {"value": result}
        for key, value in values.items():
            if hasattr(value, "numpy"):
                value = value.numpy()
            array = _np.asarray(value)
            if array.dtype.hasobject:
                raise TypeError(f"{key}: {type(value).__name__} is not a number or an array "
                                "of numbers")
            _np.save(f"{out}/{name}.{key}.npy", array, allow_pickle=False)
            report["keys"].append(str(key))
    except BaseException as error:
        report["error"] = f"{type(error).__name__}: {error}"[:500]
    finally:
        for holder, key, value in patched:
            holder[key] = value
    with open(f"{out}/{name}.json", "w") as file:
        _json.dump(report, file)
__grading_call(%r, %r, %r, %r, %r)
del __grading_call
"""


def is_otter_cell(source: str) -> bool:
    """Otter's own cells (public checks, hand-in zip): not needed to grade, so not run."""
    text = source.strip()
    return text.startswith("grader.check") or "grader.export(" in text


class ForwardingClient(NotebookClient):
    """nbclient's executor that also writes every output message to stdout as it arrives."""

    def process_message(self, msg, cell, cell_index):
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text = content.get("text", "")
        elif kind == "error":
            text = f"{content.get('ename')}: {content.get('evalue')}\n"
        elif kind in ("display_data", "execute_result"):
            text = json.dumps(content.get("data", {}))[:10_000_000] + "\n"
        else:
            text = ""
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
        return super().process_message(msg, cell, cell_index)


def event_of(ename: str, evalue: str) -> str | None:
    """The limit a cell error shows, if any."""
    if ename == "MemoryError" or "bad_alloc" in evalue:
        return "memory"
    if ename == "BlockingIOError" or "Resource temporarily unavailable" in evalue:
        return "processes"
    if ename == "KeyboardInterrupt":  # nbclient interrupted a cell past its timeout
        return "timeout"
    if any(sign in evalue for sign in ("No space left", "Errno 28", "File too large")):
        return "disk"  # a full /tmp or HOME (ENOSPC), a file past RLIMIT_FSIZE (EFBIG)
    return None


def main(argv: list[str]) -> int:
    notebook_path, calls_path, out, cell_timeout = argv[1], argv[2], argv[3], float(argv[4])
    with open(calls_path) as file:
        cases = json.load(file)["cases"]
    notebook = nbformat.read(notebook_path, as_version=4)
    status = {"cells": 0, "errors": [], "events": [], "finished": False, "seconds": {}}

    def save():
        with open(os.path.join(out, "status.json"), "w") as file:
            json.dump(status, file)

    client = ForwardingClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        # The results are files written before the kernel stops: a graceful shutdown only waits
        # (1.5-2.5 s for a kernel that imported TensorFlow, its exit handlers), so stop it now.
        shutdown_kernel="immediate",
        resources={"metadata": {"path": os.path.dirname(notebook_path)}},
    )
    save()
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code" or is_otter_cell(cell.source):
                    continue
                start = time.perf_counter()
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    status["events"].append("timeout")
                status["seconds"][f"cell {index}"] = round(time.perf_counter() - start, 2)
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        ename, evalue = output.get("ename", ""), output.get("evalue", "")
                        error = f"{ename}: {evalue}"[:300]
                        status["errors"].append({"cell": index, "error": error})
                        event = event_of(ename, evalue)
                        if event and event not in status["events"]:
                            status["events"].append(event)
                cell.outputs = []  # never kept: the grader needs results, not the notebook
                status["cells"] += 1
                save()
            for case in cases:
                cell = nbformat.v4.new_code_cell(
                    KERNEL_CALL
                    % (case["name"], case["code"], case["inputs"], out, case.get("tripwires", []))
                )
                notebook.cells.append(cell)
                start = time.perf_counter()
                try:
                    client.execute_cell(cell, len(notebook.cells) - 1)
                except CellTimeoutError:
                    status["events"].append("timeout")
                status["seconds"][case["name"]] = round(time.perf_counter() - start, 2)
            save()
    except DeadKernelError:
        status["events"].append("kernel-died")
        save()
        return 3
    status["finished"] = True
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
