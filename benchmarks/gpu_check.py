"""One-shot GPU check: everything lstmviz promises on a CUDA GPU, unattended, in <= 5 minutes.

    make gpu-check                                   # = python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --device cpu --smoke --out /tmp/r   # every section, tiny, CPU

Sections, each in its own process with its own time limit (a hang or a CUDA error in one is
recorded as that section's failure and the next one runs):

1. env       device name, memory, torch / CUDA / cuDNN versions, bf16 support, TF32 settings
2. train     full-preset training steps (PRESETS["full"]: 2x512, batch 128 x 100) through
             ``lstmviz.train`` in each precision the GPU has (fp32, bf16, fp16): chars/s
3. record    ``lstmviz.record`` on the cuDNN ``nn.LSTM`` of the shipped 2x512 model, every gate
             and cell checked against a float64 CPU loop (TOL below); record time vs a plain
             cuDNN forward of the same input
4. sample    ``lstmviz.generate`` on the GPU: chars/s
5. gates     a ``GateRecorder`` around a generation: steps recorded == prime + characters fed
             back (all generated but the last), text identical to an unrecorded generation
6. ddp       ``torchrun --nproc_per_node 1 -m lstmviz train`` (NCCL on a GPU): a few steps
7. lesson04  lessons/04_training_char_lstm.ipynb executed (nbconvert) on the GPU in a temp copy.
             The lesson trains the quick preset (4 short epochs, the same on every machine)
             and loads the shipped 2x512 models; it fits in minutes.

The report goes to ``benchmarks/results/gpu-check-<date>-<gpu name>.md``. Without a CUDA GPU the
script says so in one line and exits 0. ``--smoke``: the same sections at tiny sizes (the lesson
only up to its first training cell), for the test suite on a CPU. Exit status 1 if any section
failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
LESSON = ROOT / "lessons" / "04_training_char_lstm.ipynb"

# ---- settings -------------------------------------------------------------------------------
TOTAL_S = 290  # the whole check, all sections (5 minutes with the report and process starts)
#: Each section's time limit in seconds (GPU run; --smoke uses SMOKE_S each).
BUDGET_S = {
    "env": 30,  # includes a cold torch import and CUDA start-up
    "train": 55,
    "record": 40,
    "sample": 20,
    "gates": 20,
    "ddp": 30,
    "lesson04": 95,
}
SMOKE_S = 60
TRAIN_STEPS = 30  # full-preset steps per precision; the first WARMUP are not timed
WARMUP = 5
#: Gates (in [0, 1] or [-1, 1]) and a = h must match the float64 reference within TOL; the
#: unbounded cell c within TOL * max(1, max |c|). float32 rounding over 500 steps stays ~1e-5.
TOL = 1e-4
RECORD_T, RECORD_B = 500, 8  # record: time steps and streams of real text through the 2x512 model
SAMPLE_CHARS = 1000  # characters generated for the sampling speed


# ---- the sections (each runs in a child process: ``--section NAME``) --------------------------


def section_env(device, smoke: bool) -> dict:
    import torch

    numbers = {
        "torch": torch.__version__,
        "CUDA (torch build)": torch.version.cuda or "none",
        "cuDNN": str(
            torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else "-"
        ),
        "python": platform.python_version(),
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        numbers.update(
            {
                "device": p.name,
                "compute capability": f"{p.major}.{p.minor}",
                "memory": f"{p.total_memory / 2**30:.1f} GiB",
                "bf16 supported": torch.cuda.is_bf16_supported(),
                "GPUs visible": torch.cuda.device_count(),
            }
        )
    else:
        numbers.update({"device": f"CPU ({platform.processor() or platform.machine()})"})
        numbers["CPU cores"] = os.cpu_count()
    return {"ok": True, "numbers": numbers}


def section_train(device, smoke: bool) -> dict:
    import torch

    import lstmviz
    from lstmviz.core.training import PRESETS, resolve_precision

    text = lstmviz.load_corpus("shakespeare")
    cfg = lstmviz.TrainConfig.from_preset("full")
    steps, warmup = TRAIN_STEPS, WARMUP
    if smoke:
        cfg = cfg.replace(hidden_size=32, embedding_dim=8, batch_size=8, seq_len=16)
        text, steps, warmup = text[:20_000], 4, 1
    numbers, details, ok = {}, [], True
    shape = f"{cfg.num_layers}x{cfg.hidden_size}, batch {cfg.batch_size} x {cfg.seq_len}"
    details.append(f"preset full ({shape}; PRESETS['full'] batch {PRESETS['full']['batch_size']})")
    for precision in ("fp32", "bf16", "fp16"):
        try:
            resolve_precision(precision, device)
        except lstmviz.LstmvizError as e:
            numbers[f"{precision} chars/s"] = "n/a"
            details.append(f"{precision}: not available here ({e})")
            continue
        speeds: list[float] = []
        result = lstmviz.train(
            cfg,
            text=text,
            steps=steps,
            log_every=1,
            eval_every=10**9,
            save_every=0,
            val_chars=2_000,
            device=str(device),
            precision=precision,
            progress=False,
            callback=lambda e, s=speeds: e["kind"] == "train" and s.append(e["chars_per_sec"]),
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        timed = speeds[warmup:]
        speed = statistics.median(timed)
        finite = result.train_loss is not None and result.train_loss == result.train_loss
        ok &= finite
        numbers[f"{precision} chars/s"] = f"{speed:,.0f}"
        details.append(
            f"{precision}: median {speed:,.0f} chars/s over steps {warmup + 1}..{steps} "
            f"(min {min(timed):,.0f}, max {max(timed):,.0f}); last train loss "
            f"{result.train_loss:.3f} nats/char{'' if finite else ' NOT FINITE'}"
        )
    fp32 = numbers.get("fp32 chars/s", "n/a").replace(",", "")
    for precision in ("bf16", "fp16"):
        other = numbers.get(f"{precision} chars/s", "n/a").replace(",", "")
        if fp32 != "n/a" and other != "n/a":
            numbers[f"{precision} / fp32"] = f"{float(other) / float(fp32):.2f}x"
    return {"ok": ok, "numbers": numbers, "details": details}


def _reference(lstm, x):
    """float64 CPU loop over time, textbook LSTM: x (B, T, In) -> per layer {name: (B, T, H)}."""
    import torch

    layers, inp = [], x.detach().double().cpu()
    for layer in range(lstm.num_layers):
        w_ih, w_hh, b_ih, b_hh = (
            getattr(lstm, f"{n}_l{layer}").detach().double().cpu()
            for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )
        B, T, H = inp.shape[0], inp.shape[1], lstm.hidden_size
        h, c = torch.zeros(B, H, dtype=torch.float64), torch.zeros(B, H, dtype=torch.float64)
        out = {n: [] for n in "ifgoch"}
        pre_x = inp @ w_ih.T + b_ih + b_hh  # (B, T, 4H): the input part of every step at once
        for t in range(T):
            i, f, g, o = (pre_x[:, t] + h @ w_hh.T).chunk(4, dim=1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            for n, v in zip("ifgoch", (i, f, g, o, c, h), strict=True):
                out[n].append(v)
        layers.append({n: torch.stack(v, dim=1) for n, v in out.items()})
        inp = layers[-1]["h"]
    return layers


def _timed(fn, device) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def section_record(device, smoke: bool) -> dict:
    import torch

    import lstmviz

    ck = lstmviz.load_pretrained("shakespeare", device=device)
    lstm = ck.model.lstm
    T, B = (40, 2) if smoke else (RECORD_T, RECORD_B)
    text = lstmviz.load_corpus("shakespeare")
    ids = ck.vocab.encode(text[: T * B]).view(B, T).to(device)
    with torch.no_grad():
        x = ck.model.embedding(ids)
    ref = _reference(lstm, x)
    numbers, details, ok = {}, [], True
    for tf32 in (False, True) if device.type == "cuda" else (False,):
        # TF32 off: cuDNN and cuBLAS in true float32, the precision the recorder promises
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        with torch.no_grad():
            trace = lstmviz.record(lstm, x)
            plain = lstm(x)[0]
        worst = 0.0
        for layer in range(lstm.num_layers):
            for name in "ifgoch":
                got = trace[name, layer].double().cpu()
                want = ref[layer][name]
                scale = max(1.0, want.abs().max().item()) if name == "c" else 1.0
                err = (got - want).abs().max().item() / scale
                worst = max(worst, err)
                if not tf32:
                    numbers[f"max error {name} layer {layer}"] = f"{err:.1e}"
        out_err = (trace.output - plain).abs().max().item()
        if not tf32:
            worst_off = worst
            ok &= worst <= TOL and out_err <= TOL
            numbers["record output vs cuDNN forward"] = f"{out_err:.1e}"
            details.append(
                f"{B} streams x {T} characters of Shakespeare through the shipped 2x512 model's "
                f"nn.LSTM on {device}; every gate, c and h of both layers vs a float64 CPU loop: "
                f"max error {worst:.1e} (tolerance {TOL:g}; c relative to max(1, max|c|))"
            )
        else:
            numbers["max error with TF32 on"] = f"{worst:.1e}"
            details.append(f"with TF32 allowed (torch's default for cuDNN): max error {worst:.1e}")
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        lstmviz.record(lstm, x), lstm(x)  # warm-up
        rec_t, fwd_t = [], []
        for _ in range(2 if smoke else 7):  # interleaved repeats, medians
            rec_t.append(_timed(lambda: lstmviz.record(lstm, x), device))
            fwd_t.append(_timed(lambda: lstm(x), device))
    r, f = statistics.median(rec_t), statistics.median(fwd_t)
    numbers["record ms"] = f"{r * 1e3:.2f}"
    numbers["plain forward ms"] = f"{f * 1e3:.2f}"
    numbers["record / forward"] = f"{r / f:.2f}x"
    summary = f"max error {worst_off:.1e} (tol {TOL:g}); record / forward {r / f:.2f}x"
    return {"ok": ok, "numbers": numbers, "details": details, "summary": summary}


def section_sample(device, smoke: bool) -> dict:
    import lstmviz

    ck = lstmviz.load_pretrained("shakespeare", device=device)
    n = 50 if smoke else SAMPLE_CHARS
    lstmviz.generate(ck.model, ck.vocab, "ROMEO\n", 20, top_k=5, seed=0)  # warm-up
    t0 = time.perf_counter()
    text = lstmviz.generate(ck.model, ck.vocab, "ROMEO\n", n, top_k=5, seed=0)
    seconds = time.perf_counter() - t0
    ok = len(text) == n
    return {
        "ok": ok,
        "numbers": {"chars/s": f"{n / seconds:,.0f}", "characters": n, "seconds": f"{seconds:.3f}"},
        "details": [f"top-5 sampling from 'ROMEO\\n', seed 0: {text[:120]!r}..."],
    }


def section_gates(device, smoke: bool) -> dict:
    import lstmviz

    ck = lstmviz.load_pretrained("shakespeare", device=device)
    prime, n = "ROMEO\n", (30 if smoke else 500)
    off = lstmviz.generate(ck.model, ck.vocab, prime, n, top_k=5, seed=3)
    t0 = time.perf_counter()
    with lstmviz.GateRecorder(ck.model) as rec:
        on = lstmviz.generate(ck.model, ck.vocab, prime, n, top_k=5, seed=3)
    seconds = time.perf_counter() - t0
    trace = rec.trace
    expected = len(prime) + n - 1  # the prime, then each generated character but the last
    where = str(trace["c", -1].device)
    ok = trace.steps == expected and on == off and len(on) == n
    return {
        "ok": ok,
        "numbers": {
            "steps recorded": trace.steps,
            "expected": expected,
            "same text as unrecorded": on == off,
            "recorded chars/s": f"{n / seconds:,.0f}",
            "seconds": f"{seconds:.3f}",
        },
        "details": [f"trace on {where}: {trace!r}"],
    }


def section_ddp(device, smoke: bool) -> dict:
    import torch

    import lstmviz

    with tempfile.TemporaryDirectory(prefix="gpu-check-ddp-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text(lstmviz.load_corpus("shakespeare")[:60_000], encoding="utf-8")
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1",
            "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
            "-m", "lstmviz", "train", f"--corpus={corpus}", f"--out={tmp}/run",
            f"--device={device.type}", "--hidden-size=64", "--embedding-dim=16",
            "--batch-size=16", "--seq-len=32", "--steps=20", "--eval-every=10",
            "--save-every=10", "--val-chars=2000", "--no-progress",
        ]  # fmt: skip
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), timeout=120)
        seconds = time.perf_counter() - t0
        ok = res.returncode == 0
        numbers = {"exit status": res.returncode, "seconds": f"{seconds:.1f}"}
        details = [
            "backend " + ("nccl" if device.type == "cuda" else "gloo") + ", 1 process, 20 steps"
        ]
        if ok:
            raw = torch.load(f"{tmp}/run/checkpoint.pt", weights_only=True)
            ok = raw["step"] == 20 and raw.get("world_size") == 1
            numbers["checkpoint step"] = raw["step"]
            numbers["world_size recorded"] = raw.get("world_size")
        else:
            details.append("output tail: " + (res.stdout + res.stderr)[-800:].replace("\n", " | "))
    return {"ok": ok, "numbers": numbers, "details": details}


def section_lesson04(device, smoke: bool) -> dict:
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(LESSON, as_version=4)
    cells = nb.cells
    if smoke:  # up to (not including) the first training cell: the kernel, imports, the model
        first = next(i for i, c in enumerate(cells) if "lstmviz.train(" in c.source)
        nb.cells = cells[:first]
    probe = (
        "import torch as _t, lstmviz as _l\n"
        "print('gpu-check device:', _l.pick_device(), 'preset:', PRESET)\n"
        "if 'result' in globals():\n"
        "    print('gpu-check trained on:', next(result.model.parameters()).device,\n"
        "          'steps:', result.step, 'val:', round(result.val_loss, 4))\n"
    )
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-04-") as tmp:
        ExecutePreprocessor(timeout=None, kernel_name="python3").preprocess(
            nb, {"metadata": {"path": tmp}}
        )
        nbformat.write(nb, Path(tmp) / LESSON.name)  # the executed temp copy
    seconds = time.perf_counter() - t0
    out = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    ok = f"gpu-check device: {device.type}" in out
    if not smoke:
        ok &= f"trained on: {device.type}" in out
    code_cells = sum(c.cell_type == "code" for c in nb.cells) - 1
    return {
        "ok": ok,
        "numbers": {"seconds": f"{seconds:.1f}", "code cells run": code_cells},
        "details": [
            "LSTMVIZ_PRESET=quick (the lesson has no step-budget setting but its preset)"
            + (" ; smoke: cells before the first training cell only" if smoke else ""),
            "probe: " + out.strip().replace("\n", " | "),
        ],
    }


SECTIONS = {
    "env": section_env,
    "train": section_train,
    "record": section_record,
    "sample": section_sample,
    "gates": section_gates,
    "ddp": section_ddp,
    "lesson04": section_lesson04,
}


# ---- running the sections, the report ---------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_env() -> dict:
    """This environment with the checkout first on the path (its lstmviz, also in kernels)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def run_section(name: str, device: str, smoke: bool, limit: float) -> dict:
    """Run one section in a child process with a time limit; its result, or why it failed."""
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        result_file = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--section", name, "--device", device]
        cmd += ["--result", str(result_file)] + (["--smoke"] if smoke else [])
        t0 = time.perf_counter()
        # its own session: on a timeout the whole section goes, with a notebook kernel or
        # torchrun workers it started (they would otherwise keep the GPU busy)
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_child_env(),
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            log, _ = proc.communicate(timeout=limit)
            failure = None if proc.returncode == 0 else log[-1500:]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            failure = f"timed out after {limit:.0f} s (section stopped)"
        seconds = time.perf_counter() - t0
        if failure is None and result_file.exists():
            result = json.loads(result_file.read_text())
        else:
            result = {"ok": False, "numbers": {}, "details": [], "error": failure or "no result"}
    result["seconds"] = seconds
    return result


def _child(name: str, device_name: str, smoke: bool, result_file: str) -> None:
    import torch

    device = torch.device(device_name)
    try:
        result = SECTIONS[name](device, smoke)
    except Exception as e:  # recorded in the report; the other sections still run
        result = {"ok": False, "numbers": {}, "details": [], "error": f"{type(e).__name__}: {e}"}
    result["numbers"] = {k: str(v) for k, v in result.get("numbers", {}).items()}
    Path(result_file).write_text(json.dumps(result))


def report(results: dict[str, dict], device_name: str, smoke: bool, total: float) -> str:
    """The markdown report: a summary table, then each section's numbers and notes."""
    env = results.get("env", {}).get("numbers", {})
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# lstmviz GPU check: {env.get('device', device_name)}",
        "",
        f"{when}; `python benchmarks/gpu_check.py{' --smoke' if smoke else ''}` on "
        f"`{device_name}`; {total:.0f} s in all. torch {env.get('torch', '?')}, CUDA "
        f"{env.get('CUDA (torch build)', '?')}, cuDNN {env.get('cuDNN', '?')}.",
        "",
        "| section | result | seconds | main numbers |",
        "|---|---|---|---|",
    ]
    for name, r in results.items():
        main = r.get("summary") or "; ".join(
            f"{k} {v}" for k, v in list(r.get("numbers", {}).items())[:4]
        )
        verdict = "pass" if r.get("ok") else "**FAIL**"
        lines.append(f"| {name} | {verdict} | {r.get('seconds', 0):.1f} | {main} |")
    for name, r in results.items():
        lines += ["", f"## {name}: {'pass' if r.get('ok') else 'FAIL'}", ""]
        lines += [f"- {k}: {v}" for k, v in r.get("numbers", {}).items()]
        lines += [f"- {d}" for d in r.get("details", [])]
        if r.get("error"):
            lines += ["", "```", r["error"].strip(), "```"]
    return "\n".join(lines) + "\n"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu with --smoke")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: proves the script works")
    ap.add_argument("--out", default=str(RESULTS), help="folder for the report")
    ap.add_argument("--only", nargs="*", choices=list(SECTIONS), help="run only these sections")
    ap.add_argument("--section", choices=list(SECTIONS), help=argparse.SUPPRESS)  # child process
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.section:
        _child(args.section, args.device, args.smoke, args.result)
        return 0

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        build = torch.version.cuda or "CPU-only"
        print(
            f"gpu-check: no CUDA GPU on this machine (torch {torch.__version__}, {build} build); "
            "nothing to check. Run it where `nvidia-smi` lists a GPU "
            "(`--device cpu --smoke` tests the script itself)."
        )
        return 0
    t_start = time.perf_counter()
    results: dict[str, dict] = {}
    for name in args.only or SECTIONS:
        left = TOTAL_S - (time.perf_counter() - t_start)
        if left < 5:
            results[name] = {"ok": False, "error": "skipped: the 5-minute budget was used up"}
            continue
        limit = min(SMOKE_S if args.smoke else BUDGET_S[name], left)
        results[name] = run_section(name, args.device, args.smoke, limit)
        verdict = "pass" if results[name]["ok"] else "FAIL"
        print(f"{name:9} {verdict:4} {results[name]['seconds']:6.1f} s", flush=True)
    total = time.perf_counter() - t_start
    device_name = results.get("env", {}).get("numbers", {}).get("device", args.device)
    suffix = "-smoke" if args.smoke else ""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"gpu-check-{dt.date.today().isoformat()}-{_slug(device_name)}{suffix}.md"
    path.write_text(report(results, args.device, args.smoke, total), encoding="utf-8")
    failed = [n for n, r in results.items() if not r.get("ok")]
    print(f"report: {path}" + (f"; FAILED: {', '.join(failed)}" if failed else "; all passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
