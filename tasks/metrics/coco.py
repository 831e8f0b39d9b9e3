"""METEOR 1.5, ROUGE-L and CIDEr through the COCO caption evaluation code (``pycocoevalcap``).

This is what the E2E challenge's ``measure_scores.py`` runs for these three metrics (its ``COCOEvalCap``
with the BLEU and SPICE scorers removed): both the references and the outputs first go through COCO's
``PTBTokenizer`` -- Stanford CoreNLP 3.4.1's PTB tokenizer, lowercasing, with punctuation tokens then
dropped -- and the tokenized text is scored by ``Meteor`` (the METEOR 1.5 jar: ``-l en -norm``,
corpus-level aggregated statistics), ``Rouge`` (ROUGE-L, F with beta 1.2, averaged over segments) and
``Cider`` (CIDEr-D with document frequencies from the evaluated references).

Both the tokenizer and METEOR run java. ``pycocoevalcap`` is imported inside the functions that score. ``pycocoevalcap``'s ``PTBTokenizer`` writes its temporary file
into the installed package directory, which need not be writable, so :func:`ptb_tokenize` repeats its
exact command with the file in a temporary directory. METEOR keeps a java process alive for as long as its
``Meteor`` object lives; :class:`MeteorScorer` closes it deterministically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from adaptbench.harness.api import ConfigError

if TYPE_CHECKING:
    from pycocoevalcap.meteor.meteor import Meteor

JAVA_INSTALL_HINT = "install a Java runtime (8+), e.g. apt-get install default-jre-headless"


def require_java(needed_by: str = "METEOR 1.5 and the COCO PTB tokenizer") -> str:
    """The java executable, or a one-line ConfigError naming what needs it and how to install it."""
    java = shutil.which("java")
    if java is None:
        raise ConfigError(f"java not found on PATH, needed by {needed_by}; {JAVA_INSTALL_HINT}")
    return java


def ptb_tokenize(sentences: Sequence[str]) -> list[str]:
    """COCO's PTBTokenizer: lowercase PTB tokens, punctuation tokens removed, one output per input line."""
    if not sentences:
        return []
    from pycocoevalcap.tokenizer import ptbtokenizer

    java = require_java("the COCO PTB tokenizer")
    corenlp_jar = Path(ptbtokenizer.__file__).resolve().parent / ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR
    punctuations = frozenset(ptbtokenizer.PUNCTUATIONS)
    # one sentence per line: every line break Python or Java knows of (\r, \f, U+2028, ...) becomes a space
    text = "\n".join(" ".join(s.splitlines()) for s in sentences)
    with tempfile.TemporaryDirectory(prefix="adaptbench-ptb-") as tmp:
        path = Path(tmp) / "sentences.txt"
        path.write_text(text, encoding="utf-8")
        tokenizer = "edu.stanford.nlp.process.PTBTokenizer"
        cmd = [java, "-cp", str(corenlp_jar), tokenizer, "-preserveLines", "-lowerCase", str(path)]
        proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"PTBTokenizer failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}"
        )
    lines = proc.stdout.decode("utf-8").split("\n")
    if lines[-1] == "" and len(lines) == len(sentences) + 1:
        lines.pop()  # the final newline
    if len(lines) != len(sentences):
        raise RuntimeError(f"PTBTokenizer returned {len(lines)} lines for {len(sentences)} sentences")
    return [" ".join(w for w in line.rstrip().split(" ") if w and w not in punctuations) for line in lines]


def ptb_tokenize_corpus(
    refs: Sequence[Sequence[str]], hyps: Sequence[str]
) -> tuple[list[list[str]], list[str]]:
    """Tokenize references and hypotheses in one java call (the tokenizer works line by line, so this
    equals COCOEvalCap's two separate calls)."""
    flat = [r for group in refs for r in group]
    tokenized = ptb_tokenize([*flat, *hyps])
    out_refs: list[list[str]] = []
    pos = 0
    for group in refs:
        out_refs.append(tokenized[pos : pos + len(group)])
        pos += len(group)
    return out_refs, tokenized[pos:]


def _coco_dicts(
    refs: Sequence[Sequence[str]], hyps: Sequence[str]
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} reference sets")
    gts = {i: list(group) for i, group in enumerate(refs)}
    res = {i: [hyp] for i, hyp in enumerate(hyps)}
    return gts, res


def rouge_l(refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> float:
    """COCO ROUGE-L (on already tokenized text)."""
    from pycocoevalcap.rouge.rouge import Rouge

    score, _ = Rouge().compute_score(*_coco_dicts(refs, hyps))
    return float(score)


def cider(refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> float:
    """COCO CIDEr(-D) (on already tokenized text); document frequencies come from ``refs``."""
    from pycocoevalcap.cider.cider import Cider

    score, _ = Cider().compute_score(*_coco_dicts(refs, hyps))
    return float(score)


class MeteorScorer:
    """METEOR 1.5 through ``pycocoevalcap``'s ``Meteor`` (``java -jar meteor-1.5.jar - - -stdio -l en -norm``).

    Starting the jar and loading its paraphrase table takes several seconds of one core, so one scorer can score
    many corpora. With ``processes > 1`` that many jars load side by side and each aligns a contiguous share of
    the SCORE lines; the first jar's one EVAL line then aggregates every line's statistics in corpus order, so
    the score is the single jar's to the last digit (METEOR's statistics of a line do not depend on the others).
    Use it as a context manager or call :meth:`close`; no java process outlives it.
    """

    def __init__(self, processes: int = 1) -> None:
        from pycocoevalcap.meteor.meteor import Meteor

        if processes < 1:
            raise ValueError(f"processes={processes}: must be >= 1")
        require_java("METEOR 1.5")
        self._meteors: list[Meteor] = []
        for _ in range(processes):
            self._meteors.append(Meteor())

    @property
    def _meteor(self) -> Meteor | None:
        """The jar that aggregates (EVAL); None once closed."""
        meteors = getattr(self, "_meteors", None)
        return meteors[0] if meteors else None

    def score(self, refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> float:
        """Corpus METEOR of ``hyps`` against their reference sets (text is sent as is, one line per segment)."""
        if self._meteor is None:
            raise RuntimeError("MeteorScorer is closed")
        clean_refs = [[_one_line(r) for r in group] for group in refs]
        gts, res = _coco_dicts(clean_refs, [_one_line(h) for h in hyps])
        if not gts:
            raise ValueError("empty corpus")
        try:
            score = self._compute_score(gts, res)
        except (ValueError, OSError) as err:  # a jar died: it answers b'' and float() fails
            stderr = self._kill()
            raise RuntimeError(f"METEOR (java) failed: {err}; stderr: {stderr[-2000:]}") from err
        return float(score)

    def _compute_score(self, gts: dict[int, list[str]], res: dict[int, list[str]]) -> float:
        """``Meteor.compute_score`` of pycocoevalcap, pipelined: its SCORE lines (the same text, in the same
        order) are written by one thread per jar while another reads each line's statistics, so no jar waits
        for its next line; then the first jar's EVAL line aggregates them all, as there."""
        lines = [
            " ||| ".join(("SCORE", " ||| ".join(gts[i]), res[i][0].replace("|||", "").replace("  ", " ")))
            for i in gts
        ]
        share = -(-len(lines) // len(self._meteors))  # contiguous shares, in corpus order
        chunks = [lines[k * share : (k + 1) * share] for k in range(len(self._meteors))]
        stats: list[list[str]] = [[] for _ in chunks]

        def send(proc: subprocess.Popen, chunk: list[str]) -> None:
            try:
                proc.stdin.write("".join(f"{line}\n" for line in chunk).encode())
                proc.stdin.flush()
            except OSError:  # the jar died; its reader sees its closed output
                pass

        def receive(proc: subprocess.Popen, count: int, into: list[str]) -> None:
            into.extend(proc.stdout.readline().decode().strip() for _ in range(count))

        threads = []
        for meteor, chunk, into in zip(self._meteors, chunks, stats, strict=True):
            proc = meteor.meteor_p
            threads += [
                threading.Thread(target=send, args=(proc, chunk), daemon=True),
                threading.Thread(target=receive, args=(proc, len(chunk), into), daemon=True),
            ]
        first = self._meteors[0]
        with first.lock:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            every = [stat for part in stats for stat in part]
            if len(every) != len(lines):
                raise ValueError(f"METEOR answered {len(every)} of {len(lines)} SCORE lines")
            proc = first.meteor_p
            proc.stdin.write(("EVAL" + "".join(f" ||| {stat}" for stat in every) + "\n").encode())
            proc.stdin.flush()
            for _ in lines:
                float(proc.stdout.readline().strip())  # per-segment scores: read, as the original does
            return float(proc.stdout.readline().strip())

    def _kill(self) -> str:
        meteors = getattr(self, "_meteors", None) or []  # absent when __init__ failed (no java)
        self._meteors = []
        stderr = b""
        for meteor in meteors:
            proc = meteor.meteor_p
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is None:
                    continue
                if stream is proc.stderr:
                    try:
                        stderr += stream.read()
                    except (OSError, ValueError):
                        pass
                try:
                    stream.close()
                except OSError:  # stdin of a killed process: broken pipe on flush
                    pass
            # Meteor.__del__ takes this lock; a failed compute_score leaves it held, which would hang at exit.
            meteor.lock = threading.Lock()
        return stderr.decode(errors="replace")

    def close(self) -> None:
        """Stop the java processes (idempotent)."""
        self._kill()

    def __enter__(self) -> MeteorScorer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def meteor_processes() -> int:
    """METEOR jars for one corpus: one per core this process may use but one (BLEU and TER run beside them), at
    most 4. Each jar loads its own copy of the paraphrase table (~6 s of a core, up to 2 GB of heap) and aligns
    its share of the lines; on 2 cores a second jar gained nothing (DART dev, 2026-12-04: 15.6 s against 15.1 s)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1  # macOS
    return max(1, min(4, cores - 1))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def meteor_score(
    refs: Sequence[Sequence[str]], hyps: Sequence[str], scorer: MeteorScorer | None = None
) -> float:
    """METEOR 1.5 with ``scorer`` (shared across calls), or with one started and closed for this call."""
    if scorer is not None:
        return scorer.score(refs, hyps)
    with MeteorScorer(meteor_processes()) as own:
        return own.score(refs, hyps)


def coco_scores(
    refs: Sequence[Sequence[str]], hyps: Sequence[str], meteor: MeteorScorer | None = None
) -> dict[str, float]:
    """METEOR, ROUGE_L and CIDEr exactly as the E2E script gets them: PTB-tokenize, then score."""
    tok_refs, tok_hyps = ptb_tokenize_corpus(refs, hyps)
    return {
        "METEOR": meteor_score(tok_refs, tok_hyps, meteor),
        "ROUGE_L": rouge_l(tok_refs, tok_hyps),
        "CIDEr": cider(tok_refs, tok_hyps),
    }
