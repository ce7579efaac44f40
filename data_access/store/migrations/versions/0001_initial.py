"""The workflow store as it stood when migrations began: every table, index and constraint.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('user_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=40), nullable=False),
    sa.Column('display_name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('scope_level', sa.String(length=20), nullable=True),
    sa.Column('scope_value', sa.String(length=40), nullable=True),
    sa.Column('password_hash', sa.String(length=100), nullable=False),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id'),
    sa.UniqueConstraint('username'),
    comment='People who sign in to Concerto, with their role and the scope they may see.'
    )
    op.create_table('audit_log',
    sa.Column('audit_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('username', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.String(length=80), nullable=False),
    sa.Column('before_json', sa.Text(), nullable=True),
    sa.Column('after_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('audit_id'),
    comment='Every write to the store and every login attempt: who, what, before and after.'
    )
    op.create_table('budget_unit',
    sa.Column('unit_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('owner', sa.String(length=40), nullable=True),
    sa.Column('branch', sa.String(length=40), nullable=True),
    sa.Column('micro_region', sa.String(length=40), nullable=True),
    sa.Column('quota', sa.Double(), nullable=False),
    sa.Column('allocated', sa.Double(), server_default='0', nullable=False),
    sa.Column('booked', sa.Double(), server_default='0', nullable=False),
    sa.Column('spent', sa.Double(), server_default='0', nullable=False),
    sa.Column('thresholds', sa.String(length=40), server_default='0.8,1.0', nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('booked + spent + allocated <= quota + 0.005', name='ck_budget_within_quota'),
    sa.CheckConstraint('booked >= -0.005 AND spent >= -0.005 AND allocated >= -0.005', name='ck_budget_not_negative'),
    sa.ForeignKeyConstraint(['parent_id'], ['budget_unit.unit_id'], ),
    sa.PrimaryKeyConstraint('unit_id'),
    sa.UniqueConstraint('period', 'parent_id', 'name', name='uq_budget_unit_place'),
    comment='Budget quotas per period, company → department → team → person.'
    )
    op.create_index('ix_budget_unit_owner', 'budget_unit', ['owner', 'period'], unique=False)
    op.create_index('uq_budget_one_company', 'budget_unit', ['period'], unique=True, sqlite_where=sa.text('parent_id IS NULL'), postgresql_where=sa.text('parent_id IS NULL'))
    op.create_table('campaign_plan',
    sa.Column('plan_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('benefit_kind', sa.String(length=20), nullable=False),
    sa.Column('segments', sa.String(length=120), nullable=False),
    sa.Column('channel_types', sa.String(length=120), nullable=False),
    sa.Column('micro_regions', sa.String(length=400), server_default='', nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('budget', sa.Double(), nullable=False),
    sa.Column('expected_participants', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('override_reason', sa.String(length=400), nullable=True),
    sa.Column('override_by', sa.String(length=40), nullable=True),
    sa.Column('conflicts_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('plan_id'),
    comment='Campaigns the departments plan; saved ones are checked for conflicts first.'
    )
    op.create_table('channel_rule',
    sa.Column('benefit_kind', sa.String(length=20), nullable=False),
    sa.Column('allowed_channel_types', sa.String(length=120), nullable=False),
    sa.Column('max_per_month', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('benefit_kind'),
    comment='Channel loading rules: channel types a benefit kind may use, campaigns per month.'
    )
    op.create_table('comms_budget',
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('department', 'year'),
    comment="Each department's yearly communication budget (yuan)."
    )
    op.create_table('comms_resource',
    sa.Column('resource_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('medium', sa.String(length=20), nullable=False),
    sa.Column('unit_cost', sa.Double(), nullable=False),
    sa.Column('cost_unit', sa.String(length=30), nullable=False),
    sa.Column('period_days', sa.Integer(), nullable=False),
    sa.Column('theme', sa.String(length=40), nullable=False),
    sa.Column('coverage', sa.String(length=40), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.PrimaryKeyConstraint('resource_id'),
    sa.UniqueConstraint('code'),
    comment='Communication resources the company can buy: medium, cost, period, theme.'
    )
    op.create_table('diagnosis_template',
    sa.Column('template_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('tree_json', sa.Text(), nullable=False),
    sa.Column('schedule', sa.String(length=10), nullable=False),
    sa.Column('compare_to', sa.String(length=20), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('template_id'),
    sa.UniqueConstraint('name', 'version', name='uq_template_version'),
    comment='Mind-map diagnosis templates; saving a change adds a new version.'
    )
    op.create_table('dispatch_rule',
    sa.Column('rule_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('unit_level', sa.String(length=20), nullable=False),
    sa.Column('metric', sa.String(length=40), nullable=True),
    sa.Column('owner_role', sa.String(length=20), nullable=False),
    sa.Column('assignee', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('deadline_hours', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.PrimaryKeyConstraint('rule_id'),
    comment='How an alert on a unit becomes an order: owning role, person, kind, deadline.'
    )
    op.create_table('tactic',
    sa.Column('tactic_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('description', sa.String(length=400), server_default='', nullable=False),
    sa.Column('unit_cost', sa.Double(), nullable=False),
    sa.Column('auth_level', sa.Integer(), nullable=False),
    sa.Column('segments', sa.String(length=200), server_default='', nullable=False),
    sa.Column('min_arpu', sa.Double(), nullable=True),
    sa.Column('max_arpu', sa.Double(), nullable=True),
    sa.Column('min_tenure_months', sa.Integer(), server_default='0', nullable=False),
    sa.Column('plan_families', sa.String(length=200), server_default='', nullable=False),
    sa.Column('target', sa.String(length=12), nullable=False),
    sa.Column('max_per_customer', sa.Integer(), server_default='1', nullable=False),
    sa.Column('addresses', sa.String(length=300), server_default='', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tactic_id'),
    sa.UniqueConstraint('code'),
    comment='Marketing tactics with cost, eligibility and the authorisation level to pick them.'
    )
    op.create_table('comms_request',
    sa.Column('request_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('theme', sa.String(length=200), nullable=False),
    sa.Column('campaign_name', sa.String(length=120), nullable=True),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Double(), nullable=False),
    sa.Column('start_day', sa.Date(), nullable=False),
    sa.Column('end_day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('requested_by', sa.String(length=40), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['comms_resource.resource_id'], ),
    sa.PrimaryKeyConstraint('request_id'),
    comment="Departments' requests for communication resources, all on one plan."
    )
    op.create_index('ix_comms_request_plan', 'comms_request', ['start_day', 'department'], unique=False)
    op.create_table('diagnosis_run',
    sa.Column('run_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('compare_period', sa.String(length=7), nullable=False),
    sa.Column('trigger', sa.String(length=10), nullable=False),
    sa.Column('slot', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seconds', sa.Double(), nullable=False),
    sa.Column('result_json', sa.Text(), nullable=False),
    sa.Column('alerts_raised', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['diagnosis_template.template_id'], ),
    sa.PrimaryKeyConstraint('run_id'),
    sa.UniqueConstraint('template_id', 'slot', name='uq_run_once_per_slot'),
    comment='Stored results of template runs; a schedule slot runs at most once.'
    )
    op.create_table('alert',
    sa.Column('alert_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('metric', sa.String(length=40), nullable=False),
    sa.Column('unit_level', sa.String(length=20), nullable=False),
    sa.Column('unit_key', sa.String(length=80), nullable=False),
    sa.Column('unit_label', sa.String(length=120), nullable=False),
    sa.Column('observed_at', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('actual', sa.Double(), nullable=True),
    sa.Column('expected', sa.Double(), nullable=True),
    sa.Column('message', sa.String(length=400), nullable=False),
    sa.Column('status', sa.String(length=12), server_default='open', nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['diagnosis_run.run_id'], ),
    sa.PrimaryKeyConstraint('alert_id'),
    sa.UniqueConstraint('source', 'metric', 'unit_level', 'unit_key', 'observed_at', name='uq_alert_once'),
    comment='Alerts raised by detectors and diagnosis runs; one per metric, unit and time.'
    )
    op.create_table('work_order',
    sa.Column('order_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.String(length=2000), server_default='', nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('unit_level', sa.String(length=20), nullable=False),
    sa.Column('unit_key', sa.String(length=80), nullable=False),
    sa.Column('unit_label', sa.String(length=120), nullable=False),
    sa.Column('branch', sa.String(length=40), nullable=True),
    sa.Column('micro_region', sa.String(length=40), nullable=True),
    sa.Column('metric', sa.String(length=40), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('owner_role', sa.String(length=20), nullable=False),
    sa.Column('assignee', sa.String(length=40), nullable=True),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checklist_json', sa.Text(), nullable=True),
    sa.Column('resolution', sa.String(length=2000), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.alert_id'], ),
    sa.ForeignKeyConstraint(['parent_id'], ['work_order.order_id'], ),
    sa.PrimaryKeyConstraint('order_id'),
    sa.UniqueConstraint('alert_id'),
    comment='Alert, task and job orders; version makes concurrent updates safe.'
    )
    op.create_index('ix_work_order_branch', 'work_order', ['branch', 'due_at'], unique=False)
    op.create_index('ix_work_order_micro_region', 'work_order', ['micro_region', 'due_at'], unique=False)
    op.create_index('ix_work_order_queue', 'work_order', ['assignee', 'state', 'due_at'], unique=False)
    op.create_index('ix_work_order_state', 'work_order', ['state', 'due_at'], unique=False)
    op.create_table('budget_booking',
    sa.Column('booking_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Double(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('spent_amount', sa.Double(), nullable=True),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('tactic_pick_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=400), server_default='', nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_by', sa.String(length=40), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('amount > 0', name='ck_booking_positive'),
    sa.ForeignKeyConstraint(['unit_id'], ['budget_unit.unit_id'], ),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_order.order_id'], ),
    sa.PrimaryKeyConstraint('booking_id'),
    comment="Pre-bookings (预占) against a unit's quota, then confirmed or released."
    )
    op.create_index('ix_budget_booking_unit', 'budget_booking', ['unit_id', 'status'], unique=False)
    op.create_table('intel_report',
    sa.Column('report_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('submission_token', sa.String(length=64), nullable=False),
    sa.Column('operator', sa.String(length=10), nullable=False),
    sa.Column('branch', sa.String(length=40), nullable=False),
    sa.Column('micro_region', sa.String(length=40), nullable=True),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('figures_json', sa.Text(), nullable=True),
    sa.Column('tags', sa.String(length=300), server_default='', nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('submitted_by', sa.String(length=40), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.alert_id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['work_order.order_id'], ),
    sa.PrimaryKeyConstraint('report_id'),
    sa.UniqueConstraint('submission_token'),
    comment='Front-line reports on rivals; the submission token stores a form once.'
    )
    op.create_index('ix_intel_report_place', 'intel_report', ['micro_region', 'submitted_at'], unique=False)
    op.create_table('tactic_pick',
    sa.Column('pick_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tactic_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_cost', sa.Double(), nullable=False),
    sa.Column('total_cost', sa.Double(), nullable=False),
    sa.Column('target_key', sa.String(length=80), nullable=True),
    sa.Column('picked_by', sa.String(length=40), nullable=False),
    sa.Column('picked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('note', sa.String(length=400), server_default='', nullable=False),
    sa.Column('cancelled_by', sa.String(length=40), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['work_order.order_id'], ),
    sa.ForeignKeyConstraint(['tactic_id'], ['tactic.tactic_id'], ),
    sa.PrimaryKeyConstraint('pick_id'),
    comment='Tactics picked for work orders, with the cost at the time of the pick.'
    )
    op.create_index('ix_tactic_pick_order', 'tactic_pick', ['order_id', 'pick_id'], unique=False)
    op.create_index('ix_tactic_pick_target', 'tactic_pick', ['tactic_id', 'target_key'], unique=False)
    op.create_table('work_order_event',
    sa.Column('event_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_state', sa.String(length=12), nullable=True),
    sa.Column('to_state', sa.String(length=12), nullable=True),
    sa.Column('assignee', sa.String(length=40), nullable=True),
    sa.Column('note', sa.String(length=2000), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['work_order.order_id'], ),
    sa.PrimaryKeyConstraint('event_id'),
    comment='The full history of every work order, one row per change.'
    )
    op.create_index('ix_work_order_event_order', 'work_order_event', ['order_id', 'event_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_work_order_event_order', table_name='work_order_event')
    op.drop_table('work_order_event')
    op.drop_index('ix_tactic_pick_target', table_name='tactic_pick')
    op.drop_index('ix_tactic_pick_order', table_name='tactic_pick')
    op.drop_table('tactic_pick')
    op.drop_index('ix_intel_report_place', table_name='intel_report')
    op.drop_table('intel_report')
    op.drop_index('ix_budget_booking_unit', table_name='budget_booking')
    op.drop_table('budget_booking')
    op.drop_index('ix_work_order_state', table_name='work_order')
    op.drop_index('ix_work_order_queue', table_name='work_order')
    op.drop_index('ix_work_order_micro_region', table_name='work_order')
    op.drop_index('ix_work_order_branch', table_name='work_order')
    op.drop_table('work_order')
    op.drop_table('alert')
    op.drop_table('diagnosis_run')
    op.drop_index('ix_comms_request_plan', table_name='comms_request')
    op.drop_table('comms_request')
    op.drop_table('tactic')
    op.drop_table('dispatch_rule')
    op.drop_table('diagnosis_template')
    op.drop_table('comms_resource')
    op.drop_table('comms_budget')
    op.drop_table('channel_rule')
    op.drop_table('campaign_plan')
    op.drop_index('uq_budget_one_company', table_name='budget_unit', sqlite_where=sa.text('parent_id IS NULL'), postgresql_where=sa.text('parent_id IS NULL'))
    op.drop_index('ix_budget_unit_owner', table_name='budget_unit')
    op.drop_table('budget_unit')
    op.drop_table('audit_log')
    op.drop_table('app_user')
