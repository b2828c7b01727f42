"""Front-end speed: ms per 1,000 characters and time to the first sentence, before and after issue 9.

Usage (from the repository root):
  PYTHONPATH=src python bench/frontend_bench.py                  # this tree (the lazy sentences() path)
  PYTHONPATH=/work/main/src python bench/frontend_bench.py       # an older tree: its process() path
Texts: the benchmark paragraph (src/ttsd/data/bench_paragraph.txt) and a 5,000-character customer-service
text with digits, built deterministically below. Warm figures (grammar, jieba and model loaded first),
median of 5 runs, wall and CPU time.
"""

from __future__ import annotations

import functools
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PARTS = (
    "您的验证码是382915，5分钟内有效。",
    "您的订单号2024091712345已于2024年9月17日10:43发货，总价￥35.5万元。",
    "客服电话400-820-8820，营业时间10:00-22:00，涨幅3.5%，气温-3℃到25℃。",
    "他慢慢地走了过来，我得去银行还钱，长江是中国最长的河流。",
)


def digits_text(size: int = 5000) -> str:
    text = ""
    i = 0
    while len(text) < size:
        text += _PARTS[i % len(_PARTS)]
        i += 1
    return text[:size]


def median_s(fn: Callable[[], object], runs: int = 5) -> tuple[float, float]:
    """Median wall and CPU (this thread) seconds: on a shared machine the CPU figure is the stable one."""
    walls, cpus = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.thread_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    import ttsd.text.frontend as module
    from ttsd.text.frontend import TextFrontend

    paragraph = (ROOT / "src/ttsd/data/bench_paragraph.txt").read_text(encoding="utf-8").strip()
    long_text = digits_text()
    cache = Path(tempfile.gettempdir()) / "ttsd-bench-cache"
    symbols = ROOT / "tests/fixtures/baker_mapper.json"
    frontend = TextFrontend(symbols_path=symbols, cache_dir=cache)
    frontend.warmup()
    lazy = hasattr(frontend, "sentences")
    print(f"tree: {Path(module.__file__).parents[3]}  path: {'sentences()' if lazy else 'process()'}")
    for name, text in (("bench paragraph", paragraph), ("5,000 chars with digits", long_text)):
        wall, cpu = median_s(functools.partial(frontend.process, text))
        print(
            f"{name}: {len(text)} chars, process(): wall {wall * 1000:.0f} ms, CPU {cpu * 1000:.0f} ms"
            f" = {cpu * 1e6 / len(text):.1f} CPU ms/1k chars"
        )
    if lazy and importlib.util.find_spec("ttsd.voices.baker.phones") is not None:
        from ttsd.voices.baker.phones import baker_budget

        wall, cpu = median_s(lambda: next(frontend.sentences(long_text, budget=baker_budget(160))))
        print(f"5,000 chars with digits: first Sentence after wall {wall * 1000:.1f} ms, CPU {cpu * 1000:.1f} ms")
    else:
        print("5,000 chars with digits: first utterance only after the whole text (process() is eager)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
