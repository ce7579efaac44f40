"""Workflow state of enterprise-group management 集团客户管理: the rescues raised from the group
early warning (:mod:`data_access.store.groups.rescue`)."""
