"""Chapter 07's corpus: the Python source of the standard library you already have.

Real text that no one in the course wrote, that needs no download, and that
every Python 3.11+ installation carries: the ``.py`` files of a fixed list of
standard-library modules. The split into training and validation text is by
file and fixed here, so a model never sees a line of its validation files.
Every character is mapped onto the fixed printable-ASCII vocabulary of
:mod:`lstm_helpers.language_model` (tabs become four spaces, anything else
outside it becomes ``?``).

The files differ a little between Python versions, so the figures in the
notebook may differ in the second decimal from one installation to another;
:attr:`Corpus.fingerprint` tells two corpora apart. A file missing from an
unusual installation (a distribution that strips the sources, say) is
skipped with a note; fewer than :data:`MIN_TRAIN_FILES` training or
:data:`MIN_VALID_FILES` validation files is an error that says so.
"""

import hashlib
import sysconfig
import tokenize
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import numpy as np

from ..language_model import VOCAB, encode

#: Validation files: about 220 KB of small, self-contained modules.
VALID_FILES = (
    "calendar.py", "csv.py", "fnmatch.py", "glob.py", "heapq.py", "json/decoder.py", "json/encoder.py",
    "pprint.py", "queue.py", "shlex.py", "string.py", "textwrap.py", "tokenize.py",
)

#: Training files: about 3.8 MB. All are present, as these paths, in CPython 3.11 to 3.13.
TRAIN_FILES = (
    "argparse.py", "ast.py", "base64.py", "bdb.py", "cmd.py", "code.py", "codeop.py", "collections/__init__.py",
    "colorsys.py", "compileall.py", "configparser.py", "contextlib.py", "copy.py", "dataclasses.py", "difflib.py",
    "dis.py", "doctest.py", "enum.py", "filecmp.py", "fileinput.py", "fractions.py", "ftplib.py", "functools.py",
    "getopt.py", "gettext.py", "graphlib.py", "gzip.py", "hmac.py", "html/parser.py", "http/client.py",
    "http/server.py", "imaplib.py", "inspect.py", "ipaddress.py", "json/__init__.py", "keyword.py", "linecache.py",
    "locale.py", "logging/__init__.py", "logging/handlers.py", "mailbox.py", "mimetypes.py", "netrc.py",
    "numbers.py", "operator.py", "optparse.py", "os.py", "pdb.py", "pickle.py", "pickletools.py", "platform.py",
    "plistlib.py", "poplib.py", "pstats.py", "py_compile.py", "pyclbr.py", "quopri.py", "random.py",
    "reprlib.py", "rlcompleter.py", "runpy.py", "sched.py", "secrets.py", "selectors.py", "shelve.py",
    "shutil.py", "smtplib.py", "socket.py", "socketserver.py", "ssl.py", "stat.py", "statistics.py",
    "subprocess.py", "symtable.py", "tabnanny.py", "tarfile.py", "tempfile.py", "threading.py", "timeit.py",
    "trace.py", "traceback.py", "types.py", "typing.py", "uuid.py", "warnings.py", "wave.py", "weakref.py",
    "webbrowser.py", "zipapp.py", "zipimport.py", "unittest/case.py", "unittest/mock.py",
    "asyncio/base_events.py", "asyncio/tasks.py", "asyncio/streams.py", "concurrent/futures/_base.py",
    "email/message.py", "email/utils.py", "urllib/parse.py", "urllib/request.py", "xml/dom/minidom.py",
)

MIN_TRAIN_FILES = 20
MIN_VALID_FILES = 3

#: Files are joined with one blank line between them.
SEPARATOR = "\n\n"


class CorpusError(RuntimeError):
    """Too few of the corpus files could be read; the message says which folder was searched."""


def clean(text):
    """``text`` mapped onto the vocabulary: tabs as four spaces, other unknown characters as ``?``."""
    text = text.replace("\r\n", "\n").replace("\t", "    ")
    known = set(VOCAB)
    return "".join(ch if ch in known else "?" for ch in text)


@dataclass
class Corpus:
    """The training and validation text, cleaned, and what went into them.

    train_text, valid_text: the files joined by :data:`SEPARATOR`.
    train_files, valid_files: the relative paths that were read, in order.
    skipped: the relative paths that were missing or unreadable, with the reason.
    valid_spans: ``{path: (start, end)}`` where each validation file lies in valid_text.
    """

    root: Path
    train_text: str
    valid_text: str
    train_files: list
    valid_files: list
    skipped: dict = field(default_factory=dict)
    valid_spans: dict = field(default_factory=dict)

    @property
    def train_ids(self):
        """The training text as vocabulary indices, (len(train_text),) int64."""
        return encode(self.train_text)

    @property
    def valid_ids(self):
        """The validation text as vocabulary indices, (len(valid_text),) int64."""
        return encode(self.valid_text)

    @property
    def fingerprint(self):
        """A short hash of both texts: equal fingerprints, equal corpora."""
        digest = hashlib.sha256((self.train_text + "\0" + self.valid_text).encode()).hexdigest()
        return digest[:16]

    def summary(self):
        """A few lines: where the text came from, how much, and any skipped file."""
        lines = [f"standard library at {self.root}",
                 f"training:   {len(self.train_files):3d} files, {len(self.train_text):>9,} characters",
                 f"validation: {len(self.valid_files):3d} files, {len(self.valid_text):>9,} characters"]
        if self.skipped:
            lines.append(f"note: {len(self.skipped)} file(s) of the list are missing here and were skipped: "
                         + ", ".join(f"{path} ({why})" for path, why in self.skipped.items()))
        return "\n".join(lines)


def stdlib_root():
    """The folder of the running Python's standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def _read(root, paths, skipped):
    texts, found = [], []
    for rel in paths:
        path = root / rel
        try:
            texts.append(clean(path.read_text(encoding="utf-8")))
            found.append(rel)
        except FileNotFoundError:
            skipped[rel] = "missing"
        except (OSError, UnicodeDecodeError) as exc:
            skipped[rel] = f"unreadable: {type(exc).__name__}"
    return texts, found


def load_corpus(root=None, train_files=TRAIN_FILES, valid_files=VALID_FILES):
    """Read the corpus from the standard library (or from ``root``, a folder laid out like it).

    Returns a :class:`Corpus`. Missing files are skipped and listed in
    ``Corpus.skipped``; raises :class:`CorpusError` if fewer than
    :data:`MIN_TRAIN_FILES` training or :data:`MIN_VALID_FILES` validation
    files remain.
    """
    root = stdlib_root() if root is None else Path(root)
    skipped = {}
    train, train_found = _read(root, train_files, skipped)
    valid, valid_found = _read(root, valid_files, skipped)
    for what, found, minimum in (("training", train_found, MIN_TRAIN_FILES), ("validation", valid_found,
                                                                             MIN_VALID_FILES)):
        if len(found) < min(minimum, len(train_files if what == "training" else valid_files)):
            raise CorpusError(
                f"only {len(found)} of the {what} files of the corpus were found in {root} (at least {minimum} "
                "are needed). This Python installation seems to ship without the standard library's .py "
                "sources; install them (on Debian: the package libpython3-stdlib or python3-full) or point "
                "load_corpus(root=...) at a folder that holds them.")
    spans, start = {}, 0
    for rel, text in zip(valid_found, valid):
        spans[rel] = (start, start + len(text))
        start += len(text) + len(SEPARATOR)
    return Corpus(root=root, train_text=SEPARATOR.join(train), valid_text=SEPARATOR.join(valid),
                  train_files=train_found, valid_files=valid_found, skipped=skipped, valid_spans=spans)


# -- what a reader of Python knows at every character ------------------------------------------

OPENERS = {"(": ")", "[": "]", "{": "}"}


@dataclass
class CodeStructure:
    """Facts about every character of a Python text, from the standard ``tokenize`` module.

    in_string: (L,) bool, True from a string's opening quote up to (not
        including) its closing quote: after reading such a character, the
        reader is inside the string.
    depth: (L,) int, the number of brackets open after reading the character.
    indent: (L,) int, the indentation (leading spaces) of the character's line.
    pairs: (P, 2) int, the positions (opener, closer) of every bracket pair and
        of every one-line string's quotes; the closer is the character to predict.
    """

    in_string: np.ndarray
    depth: np.ndarray
    indent: np.ndarray
    pairs: np.ndarray

    def slice(self, start, stop):
        """The structure of ``text[start:stop]``: the arrays cut, the pairs inside it shifted by -start."""
        inside = (self.pairs[:, 0] >= start) & (self.pairs[:, 1] < stop)
        return CodeStructure(self.in_string[start:stop], self.depth[start:stop], self.indent[start:stop],
                             self.pairs[inside] - start)


def _offsets(text):
    """The offset of the start of every line (1-based line numbers, as tokenize counts them)."""
    starts = [0, 0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _quote_pair(tok_string, start, end):
    """(opener, closer) offsets of a one-line string token's quotes, or None for triple quotes."""
    body = tok_string.lstrip("rRbBuUfF")
    if body[:3] in ('"""', "'''") or len(body) < 2:
        return None
    opener = start + len(tok_string) - len(body)
    return opener, end - 1


def code_structure(text):
    """The :class:`CodeStructure` of ``text``, a Python source (or several joined by blank lines).

    Parts that do not tokenize (there should be none in the corpus) simply
    carry no strings or brackets.
    """
    L = len(text)
    in_string = np.zeros(L, dtype=bool)
    depth_change = np.zeros(L + 1, dtype=np.int64)
    pairs, stack = [], []
    line_start = _offsets(text)
    try:
        tokens = list(tokenize.generate_tokens(StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        tokens = []
    fstring_starts = []
    for tok in tokens:
        start = line_start[tok.start[0]] + tok.start[1]
        end = line_start[tok.end[0]] + tok.end[1]
        name = tokenize.tok_name[tok.type]
        if tok.type == tokenize.STRING:
            in_string[start:end - 1] = True
            pair = _quote_pair(tok.string, start, end) if tok.start[0] == tok.end[0] else None
            if pair:
                pairs.append(pair)
        elif name == "FSTRING_START":  # Python 3.12+: f-strings come in pieces
            fstring_starts.append((start, tok.start[0], tok.string))
        elif name == "FSTRING_END" and fstring_starts:
            opened, line, prefix = fstring_starts.pop()
            in_string[opened:end - 1] = True
            if line == tok.end[0] and prefix.lstrip("rRbBuUfF") in ("'", '"'):
                pairs.append((opened + len(prefix) - 1, end - 1))
        elif tok.type == tokenize.OP and tok.string in OPENERS:
            stack.append(start)
            depth_change[start] += 1
        elif tok.type == tokenize.OP and tok.string in OPENERS.values() and stack:
            pairs.append((stack.pop(), start))
            depth_change[start] -= 1
    depth = np.cumsum(depth_change[:L])
    indent = np.zeros(L, dtype=np.int64)
    for number in range(1, len(line_start) - 1):
        a, b = line_start[number], line_start[number + 1]
        line = text[a:b]
        indent[a:b] = len(line) - len(line.lstrip(" "))
    pairs = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return CodeStructure(in_string=in_string, depth=depth, indent=indent, pairs=pairs)


def corpus_structure(corpus):
    """The :class:`CodeStructure` of ``corpus.valid_text``, each file tokenized on its own."""
    L = len(corpus.valid_text)
    whole = CodeStructure(np.zeros(L, dtype=bool), np.zeros(L, dtype=np.int64), np.zeros(L, dtype=np.int64),
                          np.zeros((0, 2), dtype=np.int64))
    pairs = []
    for start, end in corpus.valid_spans.values():
        part = code_structure(corpus.valid_text[start:end])
        whole.in_string[start:end] = part.in_string
        whole.depth[start:end] = part.depth
        whole.indent[start:end] = part.indent
        pairs.append(part.pairs + start)
    whole.pairs = np.concatenate(pairs) if pairs else whole.pairs
    return whole
