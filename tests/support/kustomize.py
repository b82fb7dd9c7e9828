"""A kustomize base assembled as `kubectl kustomize` does, for the fields that
deploy/kubernetes/kustomization.yaml uses: `resources` (YAML files, in order) and
`images` (`name`, `newName`, `newTag`, `digest`). Any other field is refused, naming
it, so that the tests never validate something other than what kubectl applies.
"""

from __future__ import annotations

from pathlib import Path

import yaml

FIELDS = {"apiVersion", "kind", "resources", "images"}
IMAGE_FIELDS = {"name", "newName", "newTag", "digest"}
# Where pod specs keep their containers (Deployment, Job, CronJob, Pod, ...).
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


class Unsupported(Exception):
    """kustomization.yaml uses a field this assembly does not apply."""


def build(directory: Path) -> list[dict]:
    """The documents of the base in `directory`, images replaced."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = sorted(set(kustomization) - FIELDS)
    if unknown:
        raise Unsupported(f"{directory / 'kustomization.yaml'} uses {', '.join(unknown)}; teach tests/support/kustomize.py to apply it")
    documents = []
    for name in kustomization.get("resources", []):
        path = directory / name
        if not path.is_file():
            raise Unsupported(f"resource {name!r} is not a file in {directory} (other kustomizations are not assembled here)")
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for rule in kustomization.get("images", []):
        unknown = sorted(set(rule) - IMAGE_FIELDS)
        if unknown:
            raise Unsupported(f"images entry {rule.get('name')!r} uses {', '.join(unknown)}")
        for container in containers(documents):
            container["image"] = retag(container["image"], rule)
    return documents


def containers(documents: list[dict]) -> list[dict]:
    """Every container of every pod spec in `documents` (found wherever it nests)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in CONTAINER_LISTS and isinstance(value, list):
                    found.extend(c for c in value if isinstance(c, dict) and "image" in c)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(documents)
    return found


def split_image(image: str) -> tuple[str, str]:
    """("registry/name", ":tag" or "@sha256:..." or "")."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, "@" + digest
    head, sep, tail = image.rpartition(":")
    if sep and "/" not in tail:  # a colon after the last slash is a tag, not a port
        return head, ":" + tail
    return image, ""


def retag(image: str, rule: dict) -> str:
    """`image` as an `images` rule rewrites it (unchanged unless the names match)."""
    name, suffix = split_image(image)
    if name != rule["name"]:
        return image
    name = rule.get("newName", name)
    if "digest" in rule:
        suffix = "@" + rule["digest"]
    elif "newTag" in rule:
        suffix = ":" + str(rule["newTag"])
    return name + suffix
