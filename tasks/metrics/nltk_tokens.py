"""GenerationEval's tokenisation (nltk's ``word_tokenize``), in this process or in a worker process beside it.

``import nltk`` costs 1.5-3 s of a core, nearly all of it scipy and scikit-learn, which ``nltk/__init__`` imports
for its classifiers and association measures and which the tokenizer never touches. A one-shot ``adaptbench score``
tokenises in a worker: this file run as a script, which marks those libraries absent before importing nltk (nltk
guards each such import with ``try/except ImportError``; the tokenizer is pure ``re``), so the worker is ready in a
fraction of a second and tokenises on the second core while the main process cuts METEOR's table and computes
BLEU. ``tests/test_metrics_nlg.py`` holds the worker's tokens equal to this process's on the real WebNLG and DART
files. The file imports nothing of adaptbench: it runs as a plain script.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

# never imported by the worker: nltk/__init__ pulls them in for features word_tokenize does not use
WORKER_ABSENT = ("numpy", "scipy", "sklearn")


def generation_eval_tokenize(text: str) -> str:
    """GenerationEval's tokenisation for METEOR and TER: ``" ".join(nltk.word_tokenize(text))``.

    GenerationEval lets punkt split sentences first; here the whole line is one sentence
    (``preserve_line=True``, no punkt data to download). On LoRA-processed text, where every non-word
    character is already its own token, the sentence split changes no token: what the tokenizer still changes
    is quotes (every ``"`` becomes `````` there) and a few fused words (``cannot`` -> ``can not``).
    """
    from nltk.tokenize import word_tokenize

    return " ".join(word_tokenize(text, preserve_line=True))


class TokenizerProcess:
    """A worker process that tokenises with :func:`generation_eval_tokenize`. It starts (and imports nltk) when
    made; :meth:`tokenize` sends one batch and waits for it. One batch per worker; use it as a context manager."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def tokenize(self, texts: Sequence[str]) -> list[str]:
        """The texts' tokenisations; a worker that fails (an nltk that will not import so) is a warning, and the
        texts are tokenised in this process instead: the same tokens, a little later."""
        out, err = self._proc.communicate(json.dumps(list(texts)).encode())
        tokens = json.loads(out) if self._proc.returncode == 0 else None
        if tokens is None or len(tokens) != len(texts):
            problem = f"exit {self._proc.returncode}: {err.decode(errors='replace')[-500:]}"
            warnings.warn(
                f"the tokenizer worker failed ({problem}); tokenising in this process", stacklevel=2
            )
            return [generation_eval_tokenize(text) for text in texts]
        return tokens

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()

    def __enter__(self) -> TokenizerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve() -> None:
    """The worker: a JSON list of texts on stdin, the list of their tokenisations on stdout."""
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [
        entry for entry in sys.path if entry and Path(entry).resolve() != Path(here)
    ]  # no shadowing
    for name in WORKER_ABSENT:
        sys.modules[name] = None  # type: ignore[assignment]  # an ImportError for nltk's guarded imports
    import nltk.tokenize  # noqa: F401  (before the input arrives: the import overlaps the sender's work)

    texts = json.loads(sys.stdin.buffer.read())
    json.dump([generation_eval_tokenize(text) for text in texts], sys.stdout)


if __name__ == "__main__":
    _serve()
