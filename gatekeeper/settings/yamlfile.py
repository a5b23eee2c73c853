"""YAML for the files a person writes (the configuration, the trust policy): a key given twice
in one mapping is an error, not "the last one wins"."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice; the message gives both lines."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys.

    A second `signers:` in a trust-policy rule would otherwise replace the first without a
    word, and could widen who may sign. Keys brought in by a merge (`<<: *base`) may still
    be overridden: that is what merging is for.
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable: the base constructor says so
            if first is not None:
                raise DuplicateKeyError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                    f"(first at line {first.start_mark.line + 1})"
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


class TooDeepError(yaml.YAMLError):
    """The document nests deeper than the parser's stack allows."""


def load(text: str) -> Any:
    """The one document of `text`; `yaml.YAMLError` (`DuplicateKeyError` among them) if it
    is not valid YAML, repeats a key or nests too deeply to read."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        # PyYAML composes and constructs recursively: a few hundred levels of `[[[...` exhaust
        # the stack. No configuration nests like that.
        raise TooDeepError("the document nests too deeply to be read") from None
