"""Items enter the full-text index once probed; 4-letter prefixes get an index.

1. Discovery inserts thousands of rows a second; indexing each one's name and
   folder in FTS5 on the way was the largest cost of discovery (0002 indexed every
   item not missing). From here on an item row is in `search_index` while its
   state is neither 'new' (found, not yet probed: a new or changed file) nor
   'missing' — probing flips the state in one batched UPDATE per probe batch, and
   the triggers index the whole batch there. Moment rows follow their item, as
   before. The library list and filter-only queries read media_items, so unprobed
   items are still listed.
2. A prefix query without a prefix index of its length makes FTS5 merge the
   doclists of every matching word first: "xxxx*" took 70-120 ms on a million
   captions when the word is common, 0.3 ms with the index. The index keeps
   prefixes of 2, 3 and now 4 characters (about +20% FTS data). FTS5 cannot change
   that option in place, so the table is rebuilt, from its own rows (about a
   minute per million items, once).

The triggers are those of 0002 with the rule of 1. changed; this file repeats
their SQL rather than importing it, so that it keeps meaning what it meant when
written.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CURRENT_CAPTION = """(SELECT id FROM captions
    WHERE item_id = {item} AND keyframe_id IS {keyframe}
    ORDER BY source = 'user' DESC, id DESC LIMIT 1)"""
TAG_TEXT = "coalesce((SELECT group_concat(value, ' ') FROM json_each(c.tags)), '')"

# Which items are in the index, by revision: the SQL condition on an item row, and
# its negation for the WHEN clause of the insert trigger.
INDEXED = {
    "0002": "{m}.state != 'missing'",
    "0003": "{m}.state NOT IN ('new', 'missing')",
}


def item_rows(item_filter: str, indexed: str) -> str:
    """SQL inserting the item rows of the items matching `item_filter` (alias m)."""
    current = CURRENT_CAPTION.format(item="m.id", keyframe="NULL")
    return f"""
    INSERT INTO search_index(rowid, caption, tags, name, folder, item_id, keyframe_id, source)
        SELECT m.id, coalesce(c.text, ''), {TAG_TEXT}, m.name, m.folder, m.id, NULL,
               coalesce(c.source, '')
        FROM media_items m LEFT JOIN captions c ON c.id = {current}
        WHERE {item_filter} AND {indexed.format(m="m")};
    """


def moment_rows(keyframe_filter: str, indexed: str) -> str:
    """SQL inserting the moment rows of captioned keyframes matching `keyframe_filter` (k)."""
    current = CURRENT_CAPTION.format(item="k.item_id", keyframe="k.id")
    return f"""
    INSERT INTO search_index(rowid, caption, tags, name, folder, item_id, keyframe_id, source)
        SELECT -k.id, c.text, {TAG_TEXT}, '', '', k.item_id, k.id, c.source
        FROM keyframes k
        JOIN media_items m ON m.id = k.item_id
        JOIN captions c ON c.id = {current}
        WHERE {keyframe_filter} AND {indexed.format(m="m")};
    """


def item_refresh(item_id: str, indexed: str) -> str:
    """SQL that rewrites the item row of `item_id`."""
    return f"DELETE FROM search_index WHERE rowid = {item_id}; " + item_rows(
        f"m.id = {item_id}", indexed
    )


def moments_refresh(keyframe_filter: str, indexed: str) -> str:
    """SQL that rewrites the moment rows of the keyframes matching `keyframe_filter`."""
    return (
        "DELETE FROM search_index WHERE rowid IN "
        f"(SELECT -k.id FROM keyframes k WHERE {keyframe_filter}); "
        + moment_rows(keyframe_filter, indexed)
    )


def triggers(revision: str) -> dict[str, str]:
    """The search_index triggers as of `revision` ("0002" or "0003")."""
    indexed = INDEXED[revision]
    if revision == "0002":
        insert_when = ""
        state_flip = "(OLD.state = 'missing') != (NEW.state = 'missing')"
    else:
        # Discovery's inserts (state 'new') do not touch the index at all.
        insert_when = f"WHEN {indexed.format(m='NEW')}"
        state_flip = f"({indexed.format(m='OLD')}) != ({indexed.format(m='NEW')})"
    return {
        "search_item_insert": f"""AFTER INSERT ON media_items {insert_when}
            BEGIN {item_refresh("NEW.id", indexed)} END""",
        "search_item_update": f"""AFTER UPDATE OF name, folder, state ON media_items
            WHEN OLD.name IS NOT NEW.name OR OLD.folder IS NOT NEW.folder OR {state_flip}
            BEGIN {item_refresh("NEW.id", indexed)}
                  {moments_refresh("k.item_id = NEW.id", indexed)} END""",
        # Moment rows go with their keyframes, which the foreign key cascades delete.
        "search_item_delete": """AFTER DELETE ON media_items BEGIN
            DELETE FROM search_index WHERE rowid = OLD.id;
            END""",
        "search_caption_insert": f"""AFTER INSERT ON captions WHEN NEW.keyframe_id IS NULL
            BEGIN {item_refresh("NEW.item_id", indexed)} END""",
        "search_moment_caption_insert": f"""AFTER INSERT ON captions
            WHEN NEW.keyframe_id IS NOT NULL
            BEGIN {moments_refresh("k.id = NEW.keyframe_id", indexed)} END""",
        "search_caption_delete": f"""AFTER DELETE ON captions WHEN OLD.keyframe_id IS NULL
            BEGIN {item_refresh("OLD.item_id", indexed)} END""",
        "search_moment_caption_delete": f"""AFTER DELETE ON captions
            WHEN OLD.keyframe_id IS NOT NULL
            BEGIN {moments_refresh("k.id = OLD.keyframe_id", indexed)} END""",
        "search_keyframe_delete": """AFTER DELETE ON keyframes BEGIN
            DELETE FROM search_index WHERE rowid = -OLD.id;
            END""",
    }


def rebuild_index(prefix: str, keep: str) -> None:
    """Recreate search_index with these prefix indexes, keeping the rows for which
    `keep` holds (s: the old row), with no triggers in place meanwhile."""
    for name in triggers("0002"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(
        f"""
        CREATE VIRTUAL TABLE search_index_rebuilt USING fts5(
            caption, tags, name, folder,
            item_id UNINDEXED, keyframe_id UNINDEXED, source UNINDEXED,
            tokenize = 'porter unicode61 remove_diacritics 2',
            prefix = '{prefix}'
        )
        """
    )
    op.execute(
        f"""
        INSERT INTO search_index_rebuilt
            (rowid, caption, tags, name, folder, item_id, keyframe_id, source)
        SELECT rowid, caption, tags, name, folder, item_id, keyframe_id, source
        FROM search_index s WHERE {keep}
        """
    )
    op.execute("DROP TABLE search_index")
    op.execute("ALTER TABLE search_index_rebuilt RENAME TO search_index")


def create_triggers(revision: str) -> None:
    for name, body in triggers(revision).items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def upgrade() -> None:
    # Unprobed items (with any moments) are left out; they come back when probed.
    rebuild_index(
        "2 3 4",
        "NOT EXISTS (SELECT 1 FROM media_items m WHERE m.id = s.item_id AND m.state = 'new')",
    )
    create_triggers("0003")


def downgrade() -> None:
    rebuild_index("2 3", "1")
    create_triggers("0002")
    indexed = INDEXED["0002"]
    op.execute(item_rows("m.state = 'new'", indexed))
    op.execute(moment_rows("m.state = 'new'", indexed))
