"""Parser: tokens → syntax tree, with GitHub's precedence and error messages.

Precedence, tightest first (GitHub's documented order)::

    ( )   [ ]   .   !   < <= > >=   == !=   &&   ||

``&&`` and ``||`` chains are single n-ary nodes, as in GitHub's evaluator, so a long
chain of conditions does not count against the nesting limit. A tree deeper than 50
nodes is refused (``Exceeded max expression depth 50``). Function names are checked
while parsing (case-insensitively) together with their number of arguments, so
``false && nope()`` is an error even though ``nope`` would never run. When the caller
names the allowed contexts (``named_values``), any other top-level name is an error too
— GitHub allows different contexts in different fields.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from shipyard.ci.expressions.errors import ExpressionError, located
from shipyard.ci.expressions.lexer import Token, TokenKind, tokenize
from shipyard.ci.expressions.nodes import (
    And,
    Call,
    Compare,
    Index,
    Literal,
    NamedValue,
    Node,
    Not,
    Or,
    Wildcard,
    children,
)

__all__ = ["MAX_DEPTH", "Arity", "parse"]

MAX_DEPTH = 50
_LITERALS = (TokenKind.NULL, TokenKind.BOOLEAN, TokenKind.NUMBER, TokenKind.STRING)
_COMPARISONS = ("<", "<=", ">", ">=")
_EQUALITIES = ("==", "!=")

# function name (lower case) → (documented spelling, fewest arguments, most arguments or None)
Arity = Mapping[str, tuple[str, int, int | None]]
_Rule = Callable[[], Node]
# Bounds Python recursion on hostile input; the tree depth check above is the real limit.
_NESTING_GUARD = 4 * MAX_DEPTH


def parse(source: str, functions: Arity, named_values: Collection[str] | None = None) -> Node:
    """Parse ``source``; raises ExpressionError (kind ``lexing`` or ``parsing``)."""
    parser = _Parser(source, tokenize(source), functions, named_values)
    tree = parser.expression()
    if parser.index < len(parser.tokens):
        raise parser.unexpected(parser.tokens[parser.index])
    _check_depth(tree)
    return tree


def _check_depth(tree: Node) -> None:
    pending: list[tuple[Node | Wildcard, int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"Exceeded max expression depth {MAX_DEPTH}", kind="parsing")
        pending.extend((child, depth + 1) for child in children(node))


class _Parser:
    def __init__(
        self,
        source: str,
        tokens: list[Token],
        functions: Arity,
        named_values: Collection[str] | None,
    ) -> None:
        self.source = source
        self.tokens = tokens
        self.index = 0
        self.functions = functions
        self.named_values = None if named_values is None else {n.lower() for n in named_values}
        self.nesting = 0

    # -- token helpers -------------------------------------------------------------------

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def at_operator(self, *operators: str) -> Token | None:
        token = self.peek()
        if token is not None and token.kind is TokenKind.OPERATOR and token.text in operators:
            return token
        return None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.unexpected_end()
        self.index += 1
        return token

    def expect(self, kind: TokenKind) -> Token:
        token = self.take()
        if token.kind is not kind:
            raise self.unexpected(token)
        return token

    def error(self, what: str, token: Token) -> ExpressionError:
        return ExpressionError(
            located(what, token.position, self.source), kind="parsing", position=token.position
        )

    def unexpected(self, token: Token) -> ExpressionError:
        return self.error(f"Unexpected symbol: '{token.text}'", token)

    def unexpected_end(self) -> ExpressionError:
        if not self.tokens:
            return ExpressionError("Expected an expression but found nothing", kind="parsing")
        last = self.tokens[-1]
        return self.error(f"Unexpected end of expression: '{last.text}'", last)

    def enter(self) -> None:
        self.nesting += 1
        if self.nesting > _NESTING_GUARD:
            raise ExpressionError(f"Exceeded max expression depth {MAX_DEPTH}", kind="parsing")

    # -- grammar ---------------------------------------------------------------------------

    def expression(self) -> Node:
        self.enter()
        try:
            return self.logical("||", Or, self.conjunction)
        finally:
            self.nesting -= 1

    def conjunction(self) -> Node:
        return self.logical("&&", And, self.equality)

    def logical(self, operator: str, build: type[And] | type[Or], operand: _Rule) -> Node:
        first = operand()
        operands = [first]
        while self.at_operator(operator):
            self.index += 1
            operands.append(operand())
        if len(operands) == 1:
            return first
        return build(tuple(operands), _offset(first))

    def equality(self) -> Node:
        return self.binary(_EQUALITIES, self.comparison)

    def comparison(self) -> Node:
        return self.binary(_COMPARISONS, self.unary)

    def binary(self, operators: tuple[str, ...], operand: _Rule) -> Node:
        left = operand()
        while (token := self.at_operator(*operators)) is not None:
            self.index += 1
            left = Compare(token.text, left, operand(), token.offset)
        return left

    def unary(self) -> Node:
        token = self.at_operator("!")
        if token is None:
            return self.postfix()
        self.index += 1
        self.enter()
        try:
            return Not(self.unary(), token.offset)
        finally:
            self.nesting -= 1

    def postfix(self) -> Node:
        node = self.primary()
        while (token := self.peek()) is not None:
            if token.kind is TokenKind.DEREFERENCE:
                self.index += 1
                node = Index(node, self.property_name(), token.offset)
            elif token.kind is TokenKind.START_INDEX:
                self.index += 1
                node = Index(node, self.index_key(), token.offset)
                self.expect(TokenKind.END_INDEX)
            else:
                break
        return node

    def property_name(self) -> Literal | Wildcard:
        token = self.take()
        if token.kind is TokenKind.WILDCARD:
            return Wildcard(token.offset)
        if token.kind is TokenKind.IDENTIFIER or (
            token.kind in _LITERALS and token.text.isidentifier()
        ):
            return Literal(token.text, token.offset)
        raise self.unexpected(token)

    def index_key(self) -> Node | Wildcard:
        token = self.peek()
        if token is not None and token.kind is TokenKind.WILDCARD:
            self.index += 1
            return Wildcard(token.offset)
        return self.expression()

    def primary(self) -> Node:
        token = self.take()
        if token.kind in _LITERALS:
            return Literal(token.value, token.offset)
        if token.kind is TokenKind.START_GROUP:
            node = self.expression()
            self.expect(TokenKind.END_GROUP)
            return node
        if token.kind is TokenKind.IDENTIFIER:
            following = self.peek()
            if following is not None and following.kind is TokenKind.START_GROUP:
                return self.call(token)
            return self.named_value(token)
        raise self.unexpected(token)

    def named_value(self, token: Token) -> NamedValue:
        if self.named_values is not None and token.text.lower() not in self.named_values:
            raise self.error(f"Unrecognized named-value: '{token.text}'", token)
        return NamedValue(token.text, token.offset)

    def call(self, name: Token) -> Call:
        spec = self.functions.get(name.text.lower())
        if spec is None:
            raise self.error(f"Unrecognized function: '{name.text}'", name)
        self.index += 1  # the "("
        args: list[Node] = []
        self.enter()
        try:
            if (token := self.peek()) is not None and token.kind is TokenKind.END_GROUP:
                self.index += 1
            else:
                args.append(self.expression())
                while self.take_separator_or_end():
                    args.append(self.expression())
        finally:
            self.nesting -= 1
        canonical, fewest, most = spec
        if len(args) < fewest:
            raise self.error(f"Too few parameters supplied: '{name.text}'", name)
        if most is not None and len(args) > most:
            raise self.error(f"Too many parameters supplied: '{name.text}'", name)
        return Call(canonical, tuple(args), name.offset)

    def take_separator_or_end(self) -> bool:
        token = self.take()
        if token.kind is TokenKind.SEPARATOR:
            return True
        if token.kind is TokenKind.END_GROUP:
            return False
        raise self.unexpected(token)


def _offset(node: Node) -> int:
    return node.offset
