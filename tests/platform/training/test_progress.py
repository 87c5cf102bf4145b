"""The Progress callback: plain lines in a pipe, one line rewritten in place on a terminal, nothing left running."""

from __future__ import annotations

import io
import threading
import time
import types

from plexus.platform.training.callbacks import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _trainer(epochs: int = 3) -> types.SimpleNamespace:
    return types.SimpleNamespace(epoch=0, monitor="val_auc", cfg=types.SimpleNamespace(epochs=epochs))


def test_plain_lines_when_piped() -> None:
    out = io.StringIO()
    p = Progress(prefix="worker 1 trial 4", stream=out)
    tr = _trainer()
    p.on_fit_start(tr)
    for e in (1, 2):
        p.on_epoch_end(tr, e, {"val_auc": 0.6 + e / 100, "train_loss": 0.5})
    p.on_fit_end(tr, {})
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert lines[0].startswith("worker 1 trial 4: epoch 1/3 training [0:0")
    assert lines[1].startswith("worker 1 trial 4: epoch 1/3 val_auc 0.6100, train_loss 0.5000 [")
    assert lines[2].startswith("worker 1 trial 4: epoch 2/3 val_auc 0.6200")
    assert len(lines) == 3


def test_live_line_on_a_terminal_is_rewritten_and_cleared() -> None:
    out = _Terminal()
    p = Progress("val_auc", 3, prefix="trial 2", stream=out)
    assert p.live
    tr = _trainer()
    p.on_fit_start(tr)
    time.sleep(1.3)  # the ticker rewrites the line while the first epoch runs
    p.on_epoch_end(tr, 1, {"val_auc": 0.61})
    p.on_exception(tr, KeyboardInterrupt())
    text = out.getvalue()
    assert "\n" not in text and text.count("\r\x1b[K") >= 2 and text.endswith("\r\x1b[K")  # cleared at the end
    assert "trial 2: epoch 1/3 training [0:01]" in text and "epoch 1/3 val_auc 0.6100; epoch 2/3 training" in text
    assert not any(t.name == "plexus-progress" for t in threading.enumerate())
