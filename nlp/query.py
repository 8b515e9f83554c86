"""The watch query language: parse a query into a frozen AST, print it back canonically.

Grammar (lowest precedence first)::

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*          # adjacent operands are joined by an implicit AND
    unary    := "NOT" unary | near
    near     := atom ["NEAR/" n atom]            # both sides must be terms (bare or quoted)
    atom     := "(" or_expr ")" | TERM | PHRASE | FIELD ":" VALUE

Choices (documented here because users will ask):

- Operators are the upper-case words AND, OR, NOT and NEAR/n. Lower-case "and"/"or" are ordinary
  terms, so English brand names containing them still work.
- Adjacent operands are joined by an implicit AND (``瑞幸 咖啡`` == ``瑞幸 AND 咖啡``), the same as
  every web search box. To search for the two words next to each other, quote them: ``"luckin coffee"``.
- ``NEAR/n`` counts **characters** of normalised text between the end of one match and the start
  of the other, in either order (0 = touching). Characters, not tokens, because Chinese text has no
  spaces and jieba splits brand names; for English text n=20 is roughly three words.
- Fields: ``platform:weibo``, ``author:<name or id>`` (a leading @ is ignored), ``lang:zh``. A value
  may be quoted (``author:"Some Name"``). An unknown field-like prefix (``platfrom:weibo``) is an
  error rather than a search for the literal text, so typos do not silently match nothing; quote it
  (``"http://x"``) to search for text containing a colon.
- Full-width parentheses and quotes typed with a Chinese IME (（ ） “ ” 「 」) work like ASCII ones.
- Inside quotes, ``\\"`` is a quote and ``\\\\`` a backslash.

Terms keep the text as written (matching folds case and width itself, see nlp.matcher); ``to_string``
prints a canonical form (minimal parentheses and quotes, explicit AND) so that
``parse(to_string(q)) == q`` for every parsed q.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from typing import Union

MAX_QUERY_CHARS = 2000
MAX_DEPTH = 32  # parentheses plus NOT nesting
MAX_TERMS = 200  # terms, phrases and field filters together
MAX_TERM_CHARS = 100
MAX_NEAR = 500

FIELDS: frozenset[str] = frozenset({"platform", "author", "lang"})
_FIELD_EXAMPLES = {"platform": "weibo", "author": "雷军", "lang": "zh"}
KEYWORDS: frozenset[str] = frozenset({"AND", "OR", "NOT"})

_OPEN = {"(", "（"}
_CLOSE = {")", "）"}
_QUOTE_OPEN = {'"': '"', "“": "”", "「": "」", "”": "”"}
_QUOTE_CLOSE = {'"', "”", "」"}
_SPECIAL = _OPEN | _CLOSE | set(_QUOTE_OPEN) | _QUOTE_CLOSE


@dataclass(frozen=True, slots=True)
class Term:
    """Text that must occur in the post (a bare word or a quoted phrase)."""

    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """A filter on the post's metadata: name is one of FIELDS."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Near:
    """Both terms occur with at most `distance` characters between them, in either order."""

    left: Term
    right: Term
    distance: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Query


@dataclass(frozen=True, slots=True)
class And:
    """All children hold; always at least two children, never a nested And."""

    children: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any child holds; always at least two children, never a nested Or."""

    children: tuple[Query, ...]


Query = Union[Term, Field, Near, Not, And, Or]  # noqa: UP007 - a runtime alias used in isinstance


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed. `position` is a 0-based character offset into `query`.

    `str(error)` is the message followed by the query and a caret line under the mistake (long
    queries are cut to a window around it); `one_line()` is the message with the position, for
    places that need a single line (the CLI's UserError).
    """

    def __init__(self, message: str, position: int, query: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.query = query

    def one_line(self) -> str:
        return f"{self.message} (at character {self.position + 1})"

    def caret(self, width: int = 60) -> str:
        q = self.query.replace("\n", " ").replace("\t", " ")
        start = max(0, self.position - width // 2)
        end = min(len(q), start + width)
        prefix = "…" if start > 0 else ""
        suffix = "…" if end < len(q) else ""
        shown = q[start:end]
        # CJK characters take two terminal columns; pad the caret line to match.
        pad = sum(_columns(c) for c in prefix + q[start : self.position])
        return f"  {prefix}{shown}{suffix}\n  {' ' * pad}^"

    def __str__(self) -> str:
        if not self.query:
            return self.one_line()
        return f"{self.one_line()}\n{self.caret()}"


def _columns(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


# --- tokenizer -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "word" | "phrase" | "field" | "(" | ")" | "AND" | "OR" | "NOT" | "NEAR" | "end"
    value: str
    pos: int
    extra: str = ""  # field value for "field"; distance digits for "NEAR"


def _tokenize(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in _OPEN:
            toks.append(_Tok("(", c, i))
            i += 1
        elif c in _CLOSE:
            toks.append(_Tok(")", c, i))
            i += 1
        elif c in _QUOTE_OPEN:
            text, i2 = _read_quoted(q, i)
            toks.append(_Tok("phrase", text, i))
            i = i2
        elif c in _QUOTE_CLOSE:
            raise QuerySyntaxError("closing quote without an opening one", i, q)
        else:
            start = i
            while i < n and not q[i].isspace() and q[i] not in _SPECIAL:
                i += 1
            word = q[start:i]
            toks.append(_classify_word(q, word, start, i))
            if toks[-1].kind == "field" and not toks[-1].extra:
                # the value is quoted: author:"Some Name"
                if i < n and q[i] in _QUOTE_OPEN:
                    value, i = _read_quoted(q, i)
                    tok = toks.pop()
                    toks.append(_Tok("field", tok.value, tok.pos, value))
                else:
                    example = _FIELD_EXAMPLES.get(toks[-1].value, "weibo")
                    raise QuerySyntaxError(
                        f"field {word[:-1]!r} needs a value, e.g. {word}{example}", start, q
                    )
    toks.append(_Tok("end", "", n))
    return toks


def _read_quoted(q: str, i: int) -> tuple[str, int]:
    close = _QUOTE_OPEN[q[i]]
    start = i
    i += 1
    out: list[str] = []
    while i < len(q):
        c = q[i]
        if c == "\\" and i + 1 < len(q):
            out.append(q[i + 1])
            i += 2
            continue
        if c == close or (close == '"' and c == "”") or (close == "”" and c == '"'):
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise QuerySyntaxError("unterminated quote", start, q)


def _classify_word(q: str, word: str, start: int, end: int) -> _Tok:
    if word in KEYWORDS:
        return _Tok(word, word, start)
    if word.startswith("NEAR/"):
        digits = word[5:]
        if not digits.isascii() or not digits.isdigit():
            raise QuerySyntaxError("NEAR needs a distance in characters, e.g. NEAR/10", start, q)
        return _Tok("NEAR", word, start, digits)
    if word == "NEAR":
        raise QuerySyntaxError("NEAR needs a distance in characters, e.g. NEAR/10", start, q)
    head, colon, value = word.partition(":")
    if colon and head.isascii() and head.replace("_", "").isalpha():
        name = head.lower()
        if name not in FIELDS:
            raise QuerySyntaxError(
                f"unknown field {head!r} (known: {', '.join(sorted(FIELDS))}); "
                "quote the text to search for it",
                start,
                q,
            )
        return _Tok("field", name, start, value)
    return _Tok("word", word, start)


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, q: str, platforms: Collection[str] | None = None) -> None:
        self.q = q
        self.platforms = None if platforms is None else frozenset(p.casefold() for p in platforms)
        self.toks = _tokenize(q)
        self.i = 0
        self.depth = 0
        self.atoms = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str, pos: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, pos, self.q)

    def parse(self) -> Query:
        if self.peek().kind == "end":
            raise self.error("empty query", 0)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind == ")":
            raise self.error("closing parenthesis without an opening one", tok.pos)
        if tok.kind != "end":  # pragma: no cover - and_expr consumes every operand start
            raise self.error(f"unexpected {tok.value!r}", tok.pos)
        return node

    def or_expr(self) -> Query:
        parts = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            parts.append(self.and_expr())
        return _flatten(Or, parts)

    def and_expr(self) -> Query:
        parts = [self.unary()]
        while True:
            tok = self.peek()
            if tok.kind == "AND":
                self.take()
                parts.append(self.unary())
            elif tok.kind in ("word", "phrase", "field", "(", "NOT"):
                parts.append(self.unary())
            else:
                break
        return _flatten(And, parts)

    def unary(self) -> Query:
        tok = self.peek()
        if tok.kind == "NOT":
            self.take()
            self.enter(tok.pos)
            child = self.unary()
            self.depth -= 1
            return Not(child)
        return self.near()

    def near(self) -> Query:
        left_tok = self.peek()
        left = self.atom()
        if self.peek().kind != "NEAR":
            return left
        op = self.take()
        if not isinstance(left, Term) or left_tok.kind == "(":
            raise self.error("NEAR joins two terms; put a term before it", left_tok.pos)
        distance = int(op.extra)
        if distance > MAX_NEAR:
            raise self.error(f"NEAR distance {distance} is too large (at most {MAX_NEAR})", op.pos)
        right_tok = self.peek()
        if right_tok.kind not in ("word", "phrase"):
            raise self.error("NEAR joins two terms; put a term after it", right_tok.pos)
        right = self.atom()
        assert isinstance(right, Term)
        if self.peek().kind == "NEAR":
            raise self.error("NEAR joins exactly two terms; combine several NEARs with AND", self.peek().pos)
        return Near(left, right, distance)

    def atom(self) -> Query:
        tok = self.take()
        if tok.kind == "(":
            self.enter(tok.pos)
            if self.peek().kind == ")":
                raise self.error("empty parentheses", self.peek().pos)
            node = self.or_expr()
            close = self.take()
            if close.kind != ")":
                raise self.error("missing closing parenthesis for the one opened here", tok.pos)
            self.depth -= 1
            return node
        if tok.kind in ("word", "phrase"):
            self.count(tok.pos)
            return Term(self.check_term(tok.value, tok.pos, quoted=tok.kind == "phrase"))
        if tok.kind == "field":
            self.count(tok.pos)
            value = tok.extra.strip()
            if tok.value == "author":
                value = value.lstrip("@").strip()
            if not value:
                raise self.error(f"field {tok.value!r} needs a value", tok.pos)
            if len(value) > MAX_TERM_CHARS:
                raise self.error(f"field value longer than {MAX_TERM_CHARS} characters", tok.pos)
            if (
                tok.value == "platform"
                and self.platforms is not None
                and value.casefold() not in self.platforms
            ):
                raise self.error(
                    f"unknown platform {value!r} (known: {', '.join(sorted(self.platforms))})", tok.pos
                )
            return Field(tok.value, value)
        if tok.kind == "end":
            raise self.error("query ends where a term was expected", tok.pos)
        if tok.kind == ")":
            raise self.error("a term was expected before this parenthesis", tok.pos)
        if tok.kind == "NEAR":
            raise self.error("NEAR needs a term on each side", tok.pos)
        raise self.error(f"{tok.value} needs a term on each side", tok.pos)

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"query nested deeper than {MAX_DEPTH} levels", pos)

    def count(self, pos: int) -> None:
        self.atoms += 1
        if self.atoms > MAX_TERMS:
            raise self.error(f"query has more than {MAX_TERMS} terms", pos)

    def check_term(self, text: str, pos: int, *, quoted: bool) -> str:
        if quoted:
            text = " ".join(text.split())
        problem = _term_problem(text)
        if problem:
            raise self.error(problem, pos)
        return text


def _term_problem(text: str) -> str:
    if not text:
        return "empty quoted phrase"
    if len(text) > MAX_TERM_CHARS:
        return f"term longer than {MAX_TERM_CHARS} characters"
    if not any(c.isalnum() or unicodedata.category(c).startswith(("S", "P")) for c in text):
        return "term has no visible characters"
    return ""


def _flatten(kind: type[And] | type[Or], parts: list[Query]) -> Query:
    if len(parts) == 1:
        return parts[0]
    flat: list[Query] = []
    for part in parts:
        if isinstance(part, kind):
            flat.extend(part.children)
        else:
            flat.append(part)
    return kind(tuple(flat))


def parse(q: str, *, platforms: Collection[str] | None = None) -> Query:
    """Parse a watch query; raises QuerySyntaxError pointing at the first mistake.

    `platforms`: the platform names posts can carry (the caller knows the collectors); when given,
    a `platform:` value outside them is an error naming them, so a typo does not match nothing."""

    if not isinstance(q, str):
        raise TypeError(f"query must be str, not {type(q).__name__}")
    if len(q) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"query is {len(q)} characters long (at most {MAX_QUERY_CHARS}); split it into several watches",
            MAX_QUERY_CHARS,
            q,
        )
    for i, c in enumerate(q):
        if unicodedata.category(c) == "Cc" and not c.isspace():
            raise QuerySyntaxError(f"control character U+{ord(c):04X} in query", i, q)
    return _Parser(q, platforms).parse()


def phrase(text: str) -> Term:
    """A literal phrase built directly as a Term (no query text is parsed): for names that are
    not queries, such as a watch's competitors. Quotes, backslashes, operators and colons inside
    are literal text. One pair of enclosing quotes (ASCII or typed with a Chinese IME, "…" “…”
    「…」) is dropped, since writing a name as a quoted phrase means the phrase; runs of whitespace
    become one space. Raises QuerySyntaxError for an empty, invisible, over-long name or one
    holding control characters."""

    if not isinstance(text, str):
        raise TypeError(f"phrase must be str, not {type(text).__name__}")
    for i, c in enumerate(text):
        if unicodedata.category(c) == "Cc" and not c.isspace():
            raise QuerySyntaxError(f"control character U+{ord(c):04X} in name", i, text)
    inner = text.strip()
    if len(inner) >= 2 and inner[0] in _QUOTE_OPEN and inner[-1] in _QUOTE_CLOSE:
        inner = inner[1:-1]
    inner = " ".join(inner.split())
    problem = _term_problem(inner)
    if problem:
        raise QuerySyntaxError(problem.replace("empty quoted phrase", "empty name"), 0, text)
    return Term(inner)


# --- printer ---------------------------------------------------------------------------------


def _quote(text: str) -> str:
    # Escape every character that could close a quote (ASCII or full-width) and the backslash.
    return '"' + "".join("\\" + c if c in _QUOTE_CLOSE or c in '"\\' else c for c in text) + '"'


def _needs_quotes(text: str) -> bool:
    if text in KEYWORDS or text.startswith("NEAR") or ":" in text or "\\" in text:
        return True
    return any(c.isspace() or c in _SPECIAL for c in text)


def _term(t: Term) -> str:
    return _quote(t.text) if _needs_quotes(t.text) else t.text


def to_string(node: Query) -> str:
    """Canonical text of a query: explicit AND, minimal parentheses, quotes only where needed."""

    return _print(node, 0)


_PREC = {Or: 1, And: 2, Not: 3}


def _print(node: Query, parent_prec: int) -> str:
    if isinstance(node, Term):
        return _term(node)
    if isinstance(node, Field):
        value = node.value
        shown = _quote(value) if _needs_quotes(value) else value
        return f"{node.name}:{shown}"
    if isinstance(node, Near):
        return f"{_term(node.left)} NEAR/{node.distance} {_term(node.right)}"
    if isinstance(node, Not):
        return "NOT " + _print(node.child, 3)
    if isinstance(node, And | Or):
        prec = _PREC[type(node)]
        sep = " AND " if isinstance(node, And) else " OR "
        text = sep.join(_print(c, prec + 1 if isinstance(c, type(node)) else prec) for c in node.children)
        return f"({text})" if prec < parent_prec else text
    raise TypeError(f"not a query node: {node!r}")


# --- queries about queries -------------------------------------------------------------------


def terms(node: Query) -> tuple[Term, ...]:
    """Every term of the query (including NEAR operands and negated ones), in order, with repeats."""

    out: list[Term] = []
    _walk_terms(node, out, positive_only=False)
    return tuple(out)


def positive_terms(node: Query) -> tuple[Term, ...]:
    """Terms that are not under a NOT: the ones whose presence can make the query match."""

    out: list[Term] = []
    _walk_terms(node, out, positive_only=True)
    return tuple(out)


def _walk_terms(node: Query, out: list[Term], *, positive_only: bool) -> None:
    if isinstance(node, Term):
        out.append(node)
    elif isinstance(node, Near):
        out.extend((node.left, node.right))
    elif isinstance(node, Not):
        if not positive_only:
            _walk_terms(node.child, out, positive_only=False)
    elif isinstance(node, And | Or):
        for child in node.children:
            _walk_terms(child, out, positive_only=positive_only)


def anchored(node: Query) -> bool:
    """True when every match needs at least one positive term present in the text.

    Only anchored queries can be watches: the matcher finds candidates through their terms, and an
    unanchored query (``NOT 瑞幸``, ``platform:weibo``) would match nearly every post.
    """

    if isinstance(node, Term | Near):
        return True
    if isinstance(node, Field | Not):
        return False
    if isinstance(node, And):
        return any(anchored(c) for c in node.children)
    return all(anchored(c) for c in node.children)
