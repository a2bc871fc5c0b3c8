"""django-import-export's side of the ERP import: the profiles as resources, and the ERP's records.

- `profile_resources()`: one resource per profile, what the admin's import form (Unfold's import-export
  form) offers to choose from. Each imports its profile's export the django-import-export way, one row
  at a time (`import_data`): a row's values are checked by facts.order_facts (the importer's own checks,
  raised as ValidationErrors naming the file's column), the ERP's record of the order is saved, and the
  row is observed as a batch of one through orders_observe, the domain's one path. It is what the
  streamed importer (importing.py) does, row by row: the admin and the command use the importer, which
  reads the file in a stream and applies a thousand orders per statement; the benchmark measures this
  resource beside it, and a test holds the two to the same outcome on the published exports.
  One order per row: an export whose line rows continue an order needs the importer (it folds them).
- `ErpRecordResource`: the ERP's records exported (the records list's Export, for operations).
"""

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources, widgets

from integrations.erp.facts import order_facts
from integrations.erp.models import ErpRecord
from integrations.erp.parsing import Formats
from integrations.erp.profiles import PROFILES, match_columns
from integrations.erp.records import event_ref, import_actor, observation
from integrations.erp.status_mappings import erp_status_map
from lifecycle.services.observations import orders_observe
from lifecycle.values import ObservationError, Outcome

KEPT = ["shop_order_number", "raw_status", "total", "currency", "observed_at", "placed_at", "customer_email"]


class ProfileRowResource(resources.ModelResource):
    """A profile's export, one row one order, into ErpRecord and the order's ERP source state.

    Set `store_slug` (whose order numbers the rows carry) before importing; `import_id` names the
    ErpImport the rows' provenance points to (None: the rows name no import)."""

    profile = None  # a profiles.Profile: set by profile_resources()
    store_slug = ""
    import_id = None

    class Meta:
        model = ErpRecord
        fields = ("namespace", "erp_id")
        import_id_fields = ("namespace", "erp_id")
        skip_diff = True  # a diff per row is a preview's luxury; the benchmark measures the import itself

    @classmethod
    def get_display_name(cls):
        return cls.profile.title if cls.profile else "—"

    def before_import(self, dataset, **kwargs):
        self.columns = match_columns(self.profile, dataset.headers)
        self.formats = Formats(decimal_comma=bool(self.profile.decimal_comma), day_first=self.profile.day_first,
                               time_zone=timezone.get_default_timezone())
        self.status_map = erp_status_map(self.profile.key)
        self.started_at = timezone.now()
        # The record's key (profile, ERP id) as columns, which django-import-export asks the file to have.
        key = self.columns.get("erp_id") or self.columns["shop_order_number"]
        dataset.append_col([self.profile.key] * dataset.height, header="namespace")
        dataset.append_col(list(dataset[key]), header="erp_id")

    def before_import_row(self, row, **kwargs):
        """The row's facts, checked as the importer checks them; the record is looked up by its ERP id."""
        values = {name: (row.get(column) or "").strip() for name, column in self.columns.items()}
        facts, problems = order_facts(self.profile, values, self.formats)
        if problems:
            raise ValidationError({self.columns.get(p.field, p.field): f"{p.message} (“{p.value}”)"
                                   for p in problems})
        row["namespace"], row["erp_id"], row["facts"] = self.profile.key, facts.erp_id, facts

    def import_instance(self, instance, row, **kwargs):
        facts = row["facts"]
        for name in KEPT:
            setattr(instance, name, getattr(facts, name))
        instance.customer_email = facts.customer_email or ""
        instance.observed_at = facts.observed_at or self.started_at
        instance.namespace, instance.erp_id, instance.store_namespace = self.profile.key, facts.erp_id, self.store_slug
        instance.line = kwargs.get("row_number") or 0
        instance.erp_import_id = self.import_id

    def save_instance(self, instance, is_create, row, **kwargs):
        """Observe the row (a batch of one), then keep the record, attached when the shop has its order."""
        if self._is_dry_run(kwargs):
            return
        order_ids = [None]
        try:
            [outcome] = orders_observe(observations=[observation(
                instance, profile=self.profile.key, store_slug=self.store_slug, status_map=self.status_map,
                actor=import_actor(self.import_id), ref=event_ref(self.import_id or 0, instance.line),
                observed_at=instance.observed_at)], order_ids=order_ids)
        except ObservationError as error:
            raise ValidationError({error.field: error.message}) from None
        if outcome == Outcome.STALE:
            return  # not newer than what the ERP said before: the record stays as it was
        instance.order_id = order_ids[0]
        super().save_instance(instance, is_create, row, **kwargs)


def profile_resources():
    """One resource class per profile, in the order the import form lists them."""
    return [type(f"{profile.key.title()}RowResource", (ProfileRowResource,), {
        "profile": profile, "__module__": __name__}) for profile in PROFILES.values()]


def profile_resource(key):
    return next(resource for resource in profile_resources() if resource.profile.key == key)


class ErpRecordResource(resources.ModelResource):
    """What the ERP said about each of its orders, with the shop order it is attached to (empty: an orphan)."""

    profile = fields.Field(attribute="namespace", column_name="profile")
    order = fields.Field(attribute="order__number", column_name="console order", widget=widgets.CharWidget())
    erp_import = fields.Field(attribute="erp_import_id", column_name="ERP import")

    class Meta:
        model = ErpRecord
        fields = ("profile", "erp_id", "store_namespace", "shop_order_number", "raw_status", "total", "currency",
                  "observed_at", "placed_at", "customer_email", "order", "erp_import", "line")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return "ERP records"
