"""Each lookup's ESS table, generated from its spec, is the table the migrations make."""

from dataclasses import replace

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from core.lookups import ALL_SPECS, LookupSpec, boolean, code, decimal, spec_named, text
from ess.database import ess_engine
from ess.schema import NAMING_CONVENTION, lookup_table, render_migration_type


def differences(conn: sa.Connection, spec: LookupSpec) -> list[object]:
    """What Alembic would change to turn the migrated table into the one the spec generates."""
    generated = lookup_table(spec, sa.MetaData(naming_convention=NAMING_CONVENTION))
    context = MigrationContext.configure(
        conn,
        opts={"include_name": lambda name, kind, _: kind != "table" or name == spec.ess_table},
    )
    diff: list[object] = compare_metadata(context, generated.metadata)
    inspector = sa.inspect(conn)
    if not inspector.has_table(spec.ess_table):
        return diff
    # Alembic matches constraints loosely; the names must be the migrations' own too.
    migrated_unique = [
        (u["name"], u["column_names"]) for u in inspector.get_unique_constraints(spec.ess_table)
    ]
    generated_unique = [
        (u.name, list(u.columns.keys()))
        for u in generated.constraints
        if isinstance(u, sa.UniqueConstraint)
    ]
    if migrated_unique != generated_unique:
        diff.append(("unique constraints", migrated_unique, generated_unique))
    # PostgreSQL reports the index behind each unique constraint as well.
    indexes = [
        i for i in inspector.get_indexes(spec.ess_table) if not i.get("duplicates_constraint")
    ]
    if indexes or generated.indexes:
        diff.append(("indexes", indexes, generated.indexes))
    migrated_pk = inspector.get_pk_constraint(spec.ess_table)
    if (migrated_pk["name"], migrated_pk["constrained_columns"]) != (
        generated.primary_key.name,
        ["id"],
    ):
        diff.append(("primary key", migrated_pk))
    migrated_columns = [(c["name"], c["nullable"]) for c in inspector.get_columns(spec.ess_table)]
    if migrated_columns != [(c.name, c.nullable) for c in generated.columns]:
        diff.append(("columns", migrated_columns))
    return diff


def test_every_lookup_table_generated_from_its_spec_is_the_migrated_one(ess):
    with ess_engine().connect() as conn:
        assert {spec.name: differences(conn, spec) for spec in ALL_SPECS} == {
            spec.name: [] for spec in ALL_SPECS
        }


def test_a_spec_the_migrations_do_not_match_is_caught(ess):
    country = spec_named("country")
    wider = replace(country, value_columns=(text("description", 80),))
    with ess_engine().connect() as conn:
        [[(change, *_)]] = differences(conn, wider)
        assert change == "modify_type"
        [(change, table)] = differences(conn, replace(country, ess_table="ess_country"))
        assert (change, table.name) == ("add_table", "ess_country")


def test_a_new_lookups_generated_migration_makes_its_table(ess):
    """What `alembic revision --autogenerate` writes for a new spec creates the spec's table."""
    dues = LookupSpec(
        "throwaway dues",
        "throwaway_dues",
        (code("dues_code", 10),),
        (text("description", 60), decimal("weekly_dues", 8, 2), boolean("is_active")),
    )
    with ess_engine().begin() as conn:
        target = sa.MetaData(naming_convention=NAMING_CONVENTION)
        lookup_table(dues, target)
        only_dues = {
            "include_name": lambda name, kind, _: kind != "table" or name == "throwaway_dues"
        }
        context = MigrationContext.configure(conn, opts=only_dues)
        script = produce_migrations(context, target)
        code_text = render_python_code(script.upgrade_ops, render_item=render_migration_type)
        assert "ess.schema" not in code_text  # a migration never imports today's schema
        # Rendered to sit inside upgrade(); inside parentheses indentation does not matter.
        body = "\n".join(line.strip() for line in code_text.splitlines())
        exec(body, {"sa": sa, "op": Operations(context)})
        assert differences(conn, dues) == []
