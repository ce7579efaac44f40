"""Who may do what: roles, permissions, authorisation levels, and the signed-in principal."""

from __future__ import annotations

from dataclasses import dataclass

from data_access.db import ConcertoError

ROLES: dict[str, str] = {
    "executive": "Executive",
    "analyst": "Analyst",
    "regional_manager": "Regional manager",
    "channel_manager": "Channel manager",
    "account_manager": "Account manager",
    "marketer": "Marketer",
    "administrator": "Administrator",
}

_ALL = frozenset(ROLES)
#: Which roles hold each permission; ``Principal.can`` reads only this table.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_full_numbers": frozenset({"administrator", "account_manager"}),  # unmasked MSISDNs etc.
    "edit_templates": frozenset({"analyst", "administrator"}),
    "run_diagnosis": frozenset({"executive", "analyst", "regional_manager", "administrator"}),
    "act_on_alerts": frozenset({"analyst", "regional_manager", "channel_manager",
                                "account_manager", "marketer", "administrator"}),
    "manage_campaigns": frozenset({"marketer", "administrator"}),
    "override_conflicts": frozenset({"marketer", "administrator"}),  # save despite conflicts
    "manage_users": frozenset({"administrator"}),
    "view_audit": frozenset({"administrator", "executive"}),
    "view_dashboards": _ALL,
    "view_mart_admin": frozenset({"executive", "analyst", "administrator"}),  # truths, counts
    # work orders
    "create_orders": frozenset({"executive", "analyst", "regional_manager", "channel_manager",
                                "account_manager", "marketer", "administrator"}),
    "dispatch_orders": frozenset({"analyst", "regional_manager", "administrator"}),
    "verify_orders": frozenset({"regional_manager", "administrator"}),
    "manage_dispatch_rules": frozenset({"administrator"}),
    "view_all_orders": frozenset({"executive", "analyst", "administrator"}),
    # marketing arsenal
    "manage_arsenal": frozenset({"marketer", "administrator"}),
    "pick_tactics": frozenset({"regional_manager", "channel_manager", "account_manager",
                               "marketer", "administrator"}),
    # budgets
    "allocate_budgets": frozenset({"executive", "administrator"}),
    "book_budget": frozenset({"regional_manager", "channel_manager", "account_manager",
                              "marketer", "administrator"}),
    "view_all_budgets": frozenset({"executive", "analyst", "administrator"}),
}

#: Authorisation level of each role (1 front line, 2 manager, 3 executive): a marketing
#: tactic with level L may be seen and picked by roles whose level is at least L.
AUTH_LEVEL: dict[str, int] = {
    "channel_manager": 1, "account_manager": 1, "analyst": 1,
    "regional_manager": 2, "marketer": 2,
    "executive": 3, "administrator": 3,
}

SCOPE_LEVELS = ("branch", "micro_region")
#: The username of the system principal (reserved: no person may take it).
SYSTEM_ACTOR = "system"


class Forbidden(ConcertoError):
    """The signed-in role may not do this, or the data lie outside the user's scope."""


@dataclass(frozen=True)
class Principal:
    """The signed-in person: who they are, their role, and the slice of data they may see."""

    username: str
    display_name: str
    role: str
    scope_level: str | None = None
    scope_value: str | None = None
    #: The user's ``session_version`` at sign-in; any change of role, scope, password or
    #: access bumps the stored one, and a session holding an older one is signed out.
    session_version: int = 0

    def can(self, permission: str) -> bool:
        """Whether this role holds ``permission`` (a key of ``PERMISSIONS``)."""
        if permission not in PERMISSIONS:
            raise ValueError(f"Unknown permission {permission!r}; known: {sorted(PERMISSIONS)}")
        return self.role in PERMISSIONS[permission]

    @property
    def sees_full_numbers(self) -> bool:
        # the system principal (jobs, command-line tools) holds every permission but prints
        # reports nobody vetted: its numbers stay masked
        return self.can("view_full_numbers") and self.username != SYSTEM_ACTOR

    @property
    def auth_level(self) -> int:
        """1 front line, 2 manager, 3 executive (``AUTH_LEVEL``)."""
        return AUTH_LEVEL[self.role]

    @property
    def label(self) -> str:
        scope = f", {self.scope_value}" if self.scope_value else ""
        return f"{self.display_name} ({ROLES[self.role]}{scope})"

    def require(self, permission: str, doing: str) -> None:
        """Raise ``Forbidden`` naming the role and what was tried unless the role may."""
        if not self.can(permission):
            raise Forbidden(f"A {ROLES[self.role].lower()} may not {doing}.")


#: The actor of scheduled jobs and command-line tools: every permission, no scope, masked
#: numbers. Code that runs without a signed-in user must act as it explicitly.
SYSTEM = Principal(SYSTEM_ACTOR, "Scheduler", "administrator")
