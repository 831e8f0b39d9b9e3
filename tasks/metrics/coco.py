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
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from adaptbench.harness.api import ConfigError

if TYPE_CHECKING:
    from pycocoevalcap.meteor.meteor import Meteor

    from adaptbench.tasks.metrics.meteor_paraphrase import SegmentWords

T = TypeVar("T")

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

    ``corpus``: the segments it will score, in order, each its references and hypothesis. The jars then load only
    the paraphrase entries those segments can use (:mod:`adaptbench.tasks.metrics.meteor_paraphrase`; DART dev:
    0.37M of 5.3M) and the same scores come out; other segments make the scorer cut the table again for them
    before scoring. Without it, the whole table (a scorer kept for generations not written yet).
    Use it as a context manager or call :meth:`close`; no java process outlives it.
    """

    def __init__(self, processes: int = 1, corpus: Sequence[Sequence[str]] | None = None) -> None:
        if processes < 1:
            raise ValueError(f"processes={processes}: must be >= 1")
        if corpus is not None and any(isinstance(segment, str) for segment in corpus):
            raise TypeError(
                "corpus: one list of texts (its references and hypothesis) per segment, not texts"
            )
        require_java("METEOR 1.5")
        self._processes = processes
        self._meteors: list[Meteor] = []
        self._start(corpus)

    def _start(self, corpus: Sequence[Sequence[str]] | None) -> None:
        """Start the jars: with the whole paraphrase table, or with the part ``corpus`` can use
        (:mod:`adaptbench.tasks.metrics.meteor_paraphrase`: the same scores, a fraction of the start-up)."""
        self._words: SegmentWords | None = None
        self._cut_dir: tempfile.TemporaryDirectory | None = None
        cut = None
        if corpus is not None:
            from adaptbench.tasks.metrics.meteor_paraphrase import ParaphraseIndex, SegmentWords

            words = SegmentWords(corpus)
            self._cut_dir = tempfile.TemporaryDirectory(prefix="adaptbench-meteor-")
            cut = Path(self._cut_dir.name) / "paraphrase-en.gz"
            try:
                ParaphraseIndex(meteor_paraphrase_table()).write_cut(words, cut)
                self._words = words
            except OSError as err:  # no writable cache: the whole table, slower, the same scores
                warnings.warn(f"METEOR starts with its whole paraphrase table: {err}", stacklevel=3)
                cut = None
        for _ in range(self._processes):
            self._meteors.append(start_meteor_jar(cut))

    def _serve(self, segments: list[list[str]]) -> None:
        """Restart the jars with a table cut for ``segments`` when the current cut does not cover them."""
        if self._words is not None and not self._words.covers(segments):
            self._kill()
            self._start(segments)

    @property
    def _meteor(self) -> Meteor | None:
        """The jar that aggregates (EVAL); None once closed."""
        meteors = getattr(self, "_meteors", None)
        return meteors[0] if meteors else None

    def score(self, refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> float:
        """Corpus METEOR of ``hyps`` against their reference sets (text is sent as is, one line per segment)."""
        return self._guarded(self._compute_score, refs, hyps)

    def segment_statistics(self, refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> list[str]:
        """The jar's statistics line for each segment (what its EVAL line aggregates), in corpus order."""
        return self._guarded(self._statistics, refs, hyps)

    def _guarded(
        self, compute: Callable[[list[str]], T], refs: Sequence[Sequence[str]], hyps: Sequence[str]
    ) -> T:
        """``compute`` of the SCORE lines of ``refs``/``hyps``, on jars whose table covers them; a dead jar is a
        RuntimeError with its stderr."""
        if self._meteor is None:
            raise RuntimeError("MeteorScorer is closed")
        clean_refs = [[_one_line(r) for r in group] for group in refs]
        clean_hyps = [_one_line(h) for h in hyps]
        gts, res = _coco_dicts(clean_refs, clean_hyps)
        if not gts:
            raise ValueError("empty corpus")
        self._serve([[*group, hyp] for group, hyp in zip(clean_refs, clean_hyps, strict=True)])
        lines = [
            " ||| ".join(("SCORE", " ||| ".join(gts[i]), res[i][0].replace("|||", "").replace("  ", " ")))
            for i in gts
        ]
        try:
            return compute(lines)
        except (ValueError, OSError) as err:  # a jar died: it answers b'' and float() fails
            stderr = self._kill()
            raise RuntimeError(f"METEOR (java) failed: {err}; stderr: {stderr[-2000:]}") from err

    def _statistics(self, lines: list[str]) -> list[str]:
        """pycocoevalcap's ``Meteor._stat`` of every SCORE line, pipelined: the lines (the same text, in the same
        order as its ``compute_score`` sends them) are written by one thread per jar while another reads each
        line's statistics, so no jar waits for its next line."""
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
        with self._meteors[0].lock:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        every = [stat for part in stats for stat in part]
        if len(every) != len(lines) or not all(every):
            raise ValueError(f"METEOR answered {sum(map(bool, every))} of {len(lines)} SCORE lines")
        return every

    def _compute_score(self, lines: list[str]) -> float:
        """``Meteor.compute_score`` of pycocoevalcap: every line's statistics, then the first jar's EVAL line
        aggregates them all, as there."""
        every = self._statistics(lines)
        first = self._meteors[0]
        with first.lock:
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
        cut_dir = getattr(self, "_cut_dir", None)
        if cut_dir is not None:
            cut_dir.cleanup()
            self._cut_dir = None
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


METEOR_COMMAND = ("java", "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm")
"""pycocoevalcap's ``Meteor.meteor_cmd``, run in its folder (a test holds the two equal)."""


CUT_TABLE_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
"""JVM settings for a jar that loads a cut table and aligns one corpus (seconds of work): the client compiler only
and one GC thread. With the defaults the optimising compiler's threads took as much CPU as the aligner itself
(DART dev, 2026-12-06: 12.2 s of CPU for 6.7 s of wall, against 7.3 s for 7.2 s), which on a machine of few cores
is taken from BLEU, TER and the tokenizer. Neither changes a result: Java's arithmetic is strict whatever compiles it."""


def meteor_folder() -> Path:
    from pycocoevalcap.meteor import meteor

    return Path(meteor.__file__).resolve().parent


def meteor_paraphrase_table() -> Path:
    """The jar's English paraphrase table, as pycocoevalcap installs it."""
    return meteor_folder() / "data" / "paraphrase-en.gz"


def start_meteor_jar(paraphrase: Path | None = None) -> Meteor:
    """pycocoevalcap's ``Meteor()``; with ``paraphrase``, the same command with the jar's ``-a FILE`` option, the
    same object otherwise (its ``compute_score``, lock and ``__del__``)."""
    from pycocoevalcap.meteor.meteor import Meteor

    if paraphrase is None:
        return Meteor()
    jar = Meteor.__new__(Meteor)
    java, *rest = METEOR_COMMAND
    jar.meteor_cmd = [java, *CUT_TABLE_JVM, *rest, "-a", str(paraphrase)]
    jar.meteor_p = subprocess.Popen(
        jar.meteor_cmd,
        cwd=meteor_folder(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    jar.lock = threading.Lock()
    return jar


def meteor_processes() -> int:
    """METEOR jars for one corpus: one per core this process may use but one (BLEU and TER run beside them), at
    most 4. Each jar loads its own table and aligns its share of the lines; on 2 cores a second jar gained nothing,
    with the whole table (DART dev, 2026-12-04: 15.6 s against 15.1 s) nor with a cut one (2026-12-06: 9.6 and
    10.6 s against 10.7 and 10.4 s)."""
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
    with MeteorScorer(
        meteor_processes(), corpus=[[*group, hyp] for group, hyp in zip(refs, hyps, strict=True)]
    ) as own:
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
