"""Which outputs a collector pull counts as unmatched: what a folder tells the next one of its outputs
(those its inputs answered), and, for a pull that starts after the folder before, what that folder's
inputs say (amlmon.collector.FolderPlan). The same for the reference path and the fast path, so that
both count alike and adjacent windows add up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from amlmon.collector import CollectorBlob, FolderPlan, PullStats


class Answers:
    """The ids of the outputs folders answered ahead of their own folder, and the counts they make."""

    def __init__(self, stats: PullStats, row_ids: Callable[[CollectorBlob], Iterator[str]]) -> None:
        """`row_ids`: a blob's row ids, whatever their time (read, not counted)."""
        self.stats = stats
        self.row_ids = row_ids
        # folder key → ids of its outputs that the folder before took (not unmatched when it is read)
        self.ahead: dict[str, set[str]] = {}

    def next_taken(self, folder: FolderPlan) -> set[str]:
        """The next folder's output ids the folder's inputs take (filled in by the caller), the next
        folder's outputs being read: their blobs are counted unless that folder is the pull's (it
        counts them)."""
        if not folder.next_planned:
            self.stats.blobs += len(folder.next_outputs)
        return self.ahead.setdefault(folder_key(folder.next_outputs[0]), set())

    def count_unmatched(self, folder: FolderPlan, orphans: set[str]) -> None:
        """Count the folder's outputs in the window that no input of it took (`orphans`) but those the
        folder before took: told by it when this pull read it, else read now."""
        orphans -= self.ahead.pop(folder.key, set())
        if orphans and folder.previous_inputs:
            orphans -= self._answered_before(folder, orphans)
        self.stats.unmatched_outputs += len(orphans)

    def _answered_before(self, folder: FolderPlan, orphans: set[str]) -> set[str]:
        """Those of `orphans` that an input of the folder before (not read by this pull) has and no
        output of it answered. Memory holds those ids only."""
        found: set[str] = set()
        for blob in folder.previous_inputs:
            self.stats.blobs += 1
            found.update(row_id for row_id in self.row_ids(blob) if row_id in orphans)
        if found:
            for blob in folder.previous_outputs:
                self.stats.blobs += 1
                found.difference_update(self.row_ids(blob))
        return found

    def told_next(self, folder: FolderPlan) -> dict[str, Any]:
        """What the folder's part keeps for a resumed pull: the next folder's outputs its inputs took
        (that folder does not count them as unmatched); {} when none."""
        ids = self.ahead.get(folder_key(folder.next_outputs[0])) if folder.next_outputs else None
        if not ids:
            return {}
        return {"answeredNext": {"folder": folder_key(folder.next_outputs[0]), "ids": sorted(ids)}}

    def remember(self, part: dict[str, Any]) -> None:
        """A resumed pull: what a part the interrupted run wrote kept of the next folder (told_next)."""
        taken = part.get("answeredNext")
        if taken:
            self.ahead.setdefault(str(taken["folder"]), set()).update(taken["ids"])


def folder_key(blob: CollectorBlob) -> str:
    """The key of the folder a blob is in (FolderPlan.key)."""
    return "/".join(blob.group)
