"""Audit: the one table of words for actions, objects and fields, as the users say them.

Every timeline, the audit log page and its export name events through these tables; an action
missing here reads 其他操作, never its code name (tests/audit/test_labels.py walks the code for
every action name and fails when one has no label).
"""

from flask_babel import lazy_gettext as _l

GENERIC_ACTION = _l("其他操作")
GENERIC_FIELD = _l("其他信息")
SYSTEM_ACTOR = _l("系统（定时扫描）")
EMPTY = _l("（无）")
HIDDEN = _l("（已隐藏）")

ACTION_LABELS = {
    # people and access
    "user.create": _l("新建用户"),
    "user.update": _l("修改用户信息"),
    "user.activate": _l("启用用户"),
    "user.deactivate": _l("停用用户"),
    "user.reset_password": _l("重置密码"),
    "user.change_password": _l("修改密码"),
    "token.create": _l("创建接口令牌"),
    # units
    "unit.create": _l("新建单位"),
    "unit.update": _l("修改单位信息"),
    "unit.activate": _l("启用单位"),
    "unit.deactivate": _l("停用单位"),
    # intake records
    "intake.create": _l("登记反映件"),
    "intake.rectify": _l("转入问题台账"),
    "intake.quick_fix": _l("立行立改"),
    "intake.explain": _l("解释说明"),
    "intake.duplicate": _l("标记为重复件"),
    "intake.appeal": _l("提出申诉"),
    "intake.appeal_upheld": _l("申诉成立"),
    "intake.appeal_rejected": _l("申诉不成立"),
    "intake.reveal": _l("查看反映人信息"),
    "intake.set_unit": _l("设置责任单位"),
    "intake.import": _l("批量导入反映件"),
    "intake.profile_save": _l("保存导入方案"),
    "channel.create": _l("新增渠道"),
    "channel.update": _l("修改渠道"),
    "channel.aliases": _l("修改渠道别名"),
    "channel.activate": _l("启用渠道"),
    "channel.deactivate": _l("停用渠道"),
    # problems: the workflow's transitions (the same words as its buttons) and the work between them
    "problem.create": _l("登记入台账"),
    "problem.attach_record": _l("并入反映件"),
    "problem.assign": _l("交办"),
    "problem.withdraw": _l("撤销"),
    "problem.accept": _l("签收"),
    "problem.return": _l("退回"),
    "problem.submit": _l("申请销号"),
    "problem.approve": _l("审核通过"),
    "problem.reject": _l("退回重改"),
    "problem.verify_pass": _l("核查通过"),
    "problem.verify_fail": _l("核查未通过"),
    "problem.reopen": _l("重新办理"),
    "problem.note_progress": _l("填报整改进展"),
    "problem.note_report": _l("提交整改报告"),
    "problem.note_instruction": _l("领导批示"),
    "problem.milestone_done": _l("节点完成"),
    "problem.milestone_undone": _l("撤销节点完成"),
    "problem.evidence": _l("上传佐证材料"),
    "problem.evidence_waived": _l("同意免附佐证材料"),
    "problem.extension_request": _l("申请延期"),
    "problem.extension_approved": _l("同意延期"),
    "problem.extension_refused": _l("不同意延期"),
    "problem.public_reply": _l("填写答复意见"),
    "problem.campaign": _l("设置所属专项"),
    "campaign.create": _l("新建专项"),
    "campaign.update": _l("修改专项"),
    "notice.issue": _l("发出督促通知"),
    # oversight: covert re-inspection and follow-up calls
    "inspection.create": _l("制定暗访复查方案"),
    "inspection.add": _l("加入暗访复查"),
    "inspection.visit": _l("登记暗访复查结果"),
    "inspection.photo": _l("上传暗访照片"),
    "inspection.finish": _l("暗访复查完成"),
    "followup.call": _l("回访"),
    "followup.decide": _l("研判不满意回访"),
    "intake.publish": _l("公开处理结果"),
    "intake.unpublish": _l("取消公开处理结果"),
    "intake.receipt": _l("打印查询回执"),
    # settings
    "calendar.set": _l("设置节假日或调休"),
    "calendar.delete": _l("删除节假日或调休"),
    "settings.save": _l("修改系统设置"),
    "webhook.save": _l("保存消息推送"),
    "webhook.activate": _l("启用消息推送"),
    "webhook.deactivate": _l("停用消息推送"),
    "triage.rule_save": _l("保存分级规则"),
    "triage.rule_move": _l("调整分级规则顺序"),
    "triage.template_save": _l("保存时限模板"),
    "category.create": _l("新增问题分类"),
    "audit.verify": _l("校验审计日志完整性"),
}

# The action select of the audit log page groups actions by the part before the dot.
ACTION_GROUPS = {
    "problem": _l("问题台账"),
    "campaign": _l("专项"),
    "notice": _l("督促通知"),
    "inspection": _l("暗访复查"),
    "followup": _l("回访"),
    "intake": _l("反映件"),
    "channel": _l("渠道"),
    "user": _l("用户"),
    "token": _l("接口令牌"),
    "unit": _l("单位"),
    "calendar": _l("工作日历"),
    "settings": _l("系统设置"),
    "webhook": _l("消息推送"),
    "triage": _l("分级与时限"),
    "category": _l("问题分类"),
    "audit": _l("审计日志"),
}

OBJECT_LABELS = {
    "problem": _l("问题"),
    "campaign": _l("专项"),
    "inspection_batch": _l("暗访复查批次"),
    "intake_record": _l("反映件"),
    "import_batch": _l("导入批次"),
    "import_profile": _l("导入方案"),
    "channel": _l("渠道"),
    "user": _l("用户"),
    "api_token": _l("接口令牌"),
    "unit": _l("单位"),
    "calendar_day": _l("工作日历"),
    "setting": _l("系统设置"),
    "webhook": _l("消息推送"),
    "triage_rule": _l("分级规则"),
    "deadline_template": _l("时限模板"),
    "category": _l("问题分类"),
    "audit": _l("审计日志"),
}

FIELD_LABELS = {
    # problems
    "status": _l("状态"),
    "campaign": _l("专项"),
    "starts_on": _l("开始日期"),
    "ends_on": _l("结束日期"),
    "description": _l("说明"),
    "tier": _l("分级"),
    "suggested_tier": _l("建议分级"),
    "tier_override_reason": _l("调整分级理由"),
    "unit_id": _l("责任单位"),
    "owner_id": _l("责任人"),
    "leader_id": _l("分管领导"),
    "inspector_id": _l("纪检监察员"),
    "closed_by_id": _l("销号人"),
    "deadline": _l("完成时限"),
    "original_deadline": _l("原定时限"),
    "deadline_note": _l("时限调整理由"),
    "milestones": _l("节点"),
    "milestone": _l("节点"),
    "withdraw_reason": _l("撤销原因"),
    "evidence": _l("佐证材料（件）"),
    "withdrawn_extension_requests": _l("一并撤回的延期申请（件）"),
    "verification": _l("须核查"),
    "rework_count": _l("返工次数"),
    "reopen_count": _l("重新办理次数"),
    "review_opinion": _l("审核意见"),
    "opinion": _l("审核意见"),
    "explanation": _l("说明"),
    "title": _l("标题"),
    "intake_ids": _l("反映件"),
    "intake_id": _l("反映件"),
    "quick_fix": _l("立行立改"),
    "file": _l("文件"),
    "size": _l("大小"),
    "sha256": _l("校验值（SHA-256）"),
    "from": _l("现时限"),
    "to": _l("申请延至"),
    "notice": _l("通知编号"),
    "level": _l("级别"),
    "days_overdue": _l("逾期工作日"),
    "urgency": _l("紧迫度"),
    "difficulty": _l("难易度"),
    # follow-up calls
    "attempt": _l("第几次拨打"),
    "followup_state": _l("回访状态"),
    "decision": _l("研判结果"),
    # intake records
    "channel": _l("渠道"),
    "external_id": _l("来源编号"),
    "kind": _l("类型"),
    "received_at": _l("受理时间"),
    "body": _l("内容"),
    "rating": _l("评价等级"),
    "service_item": _l("办理事项"),
    "unit_code": _l("单位编码"),
    "complainant_name": _l("反映人"),
    "complainant_phone": _l("联系电话"),
    "category": _l("问题分类"),
    "reply": _l("答复"),
    "handling": _l("处理方式"),
    "problem": _l("台账编号"),
    "duplicate_of": _l("重复于"),
    "count": _l("件数"),
    "ids": _l("反映件"),
    "aliases": _l("别名"),
    # imports
    "created": _l("新增"),
    "duplicate": _l("重复"),
    "rejected": _l("未导入"),
    "mapping": _l("列对应"),
    "defaults": _l("默认值"),
    "derive_title": _l("由内容生成标题"),
    "channel_map": _l("渠道对应"),
    "unit_map": _l("单位对应"),
    # people and units
    "username": _l("用户名"),
    "name": _l("名称"),
    "role": _l("角色"),
    "email": _l("电子邮箱"),
    "is_active": _l("在用"),
    "sees_all_units": _l("可看全部单位"),
    "leader_of": _l("分管单位"),
    "user_id": _l("用户"),
    "code": _l("编码"),
    "parent_id": _l("上级单位"),
    "contact": _l("联系方式"),
    "note": _l("备注"),
    # triage
    "params": _l("条件"),
    "result": _l("结果"),
    "position": _l("顺序"),
    "source_kind": _l("来源类型"),
    "days": _l("工作日数"),
    "rule_text": _l("依据"),
    "pattern": _l("关键词"),
    "values": _l("取值"),
    "max": _l("评价等级不高于"),
    "urgency_min": _l("紧迫度不低于"),
    "difficulty_min": _l("难易度不低于"),
    # covert re-inspection
    "relapse_count": _l("反弹次数"),
    "method": _l("抽查方式"),
    "filter": _l("筛选条件"),
    "closed_from": _l("销号日期起"),
    "closed_to": _l("销号日期止"),
    "population": _l("符合条件的问题数"),
    "sample_size": _l("抽取数量"),
    "sample_percent": _l("抽取比例（%）"),
    "seed": _l("随机种子"),
    "inspector_ids": _l("检查人员"),
    "per_problem": _l("每个问题检查人数"),
    "double_random": _l("双随机"),
    "visited_on": _l("复查日期"),
    "way": _l("复查方式"),
    "relapse": _l("反弹"),
    "photos": _l("照片（张）"),
    "fail": _l("未通过（件）"),
    # settings
    "due_soon_days": _l("临期提醒（剩余工作日）"),
    "ladder": _l("督促阶梯（逾期工作日）"),
    "accept_within_days": _l("签收时限（工作日）"),
    "reply_days": _l("通知回复时限（工作日）"),
    "scan_minutes": _l("扫描间隔（分钟）"),
    "digest_hour": _l("摘要发送时刻（时）"),
    "digest_minute": _l("摘要发送时刻（分）"),
    "server": _l("邮件服务器"),
    "port": _l("端口"),
    "use_tls": _l("使用加密连接"),
    "sender": _l("发件人"),
    "password": _l("密码"),
    "password_enc": _l("密码"),
    # keys inside settings values (per tier, per ladder step)
    "red": _l("红"),
    "yellow": _l("黄"),
    "blue": _l("蓝"),
    "reminder": _l("催办"),
    "supervise": _l("督办"),
    "listed": _l("挂牌督办"),
    "checked": _l("已校验（条）"),
    "ok": _l("完整"),
}

# Where a field means something else on another kind of object.
CONTEXT_FIELD_LABELS = {
    ("user", "name"): _l("姓名"),
    ("user", "unit_id"): _l("所属单位"),
    ("webhook", "unit_id"): _l("单位"),
    ("intake_record", "unit_id"): _l("涉及单位"),
}

# Fields a reader has no use for (row ids of things the timeline shows by themselves).
HIDDEN_FIELDS = {"note_id", "evidence_id", "via"}

SETTING_LABELS = {"alerts": _l("预警与督促阈值"), "schedules": _l("定时任务"), "mail": _l("邮件设置")}

IMPORT_STATUS_LABELS = {
    "staged": _l("待对应列"),
    "queued": _l("排队中"),
    "running": _l("导入中"),
    "done": _l("已完成"),
    "failed": _l("导入失败"),
}
CALENDAR_KIND_LABELS = {"holiday": _l("休息日"), "workday": _l("调休上班")}
WEBHOOK_KIND_LABELS = {"dingtalk": _l("钉钉"), "wecom": _l("企业微信"), "json": _l("通用（JSON）")}
RULE_KIND_LABELS = {
    "keyword": _l("关键词"),
    "category": _l("问题分类"),
    "channel": _l("渠道"),
    "kind": _l("类型"),
    "rating": _l("评价等级"),
    "repeat": _l("重复件数"),
    "matrix": _l("紧迫度×难易度"),
}
RULE_RESULT_LABELS = {"red": _l("红"), "yellow": _l("黄"), "blue": _l("蓝"), "escalate": _l("升级一档")}

# Notes the code itself wrote in English before this table existed.
NOTE_LABELS = {
    "complainant identity shown": _l("查看了反映人的完整信息"),
    "complainant phone shown for a follow-up call": _l("回访时查看了反映人的联系电话"),
}

CHAIN_REASONS = {
    "prev_hash does not match the previous event": _l("与前一条记录衔接不上（其前有记录被删除或插入）"),
    "content does not match its hash": _l("内容与其哈希值不符（记录被改动过）"),
    "hash does not match its MAC": _l("的校验码不符（记录被改动后重算了哈希值）"),
    "events after this one were deleted": _l("之后的记录被删除（日志比链外锚定文件所记的短）"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, GENERIC_ACTION))


def object_label(object_type: str) -> str:
    return str(OBJECT_LABELS.get(object_type, GENERIC_FIELD))


def field_label(field: str, object_type: str = "") -> str:
    return str(CONTEXT_FIELD_LABELS.get((object_type, field)) or FIELD_LABELS.get(field, GENERIC_FIELD))


def chain_reason(reason: str | None) -> str:
    return str(CHAIN_REASONS.get(reason, reason or ""))
