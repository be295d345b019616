"""The consent policy residents agree to: its version (configured,
`CONSENT_POLICY_VERSION`) and, for each consent scope, the text the mini-program
shows before asking. A consent names the version it was given under; one naming
another version is refused (422 POLICY_VERSION_UNKNOWN), so nobody is recorded as
agreeing to a text they were never shown."""
from __future__ import annotations

from typing import Any

from points.errors import Invalid
from points.i18n import gettext

SCOPE_TEXTS: dict[str, dict[str, str]] = {
    "credit_points": {
        "title": "个人信用积分查询与使用",
        "text": (
            "您同意本平台依据《长沙市个人信用积分管理办法》，使用各部门依法报送的您的信用记录"
            "计算个人信用积分和等级，并在小程序中向您本人展示积分、等级、记录明细和变动原因。"
            "政府部门依法办事时可查询您的信用状况（逢办必查），每次查询都会记入您的查询记录。"
            "对负面记录，您可以添加本人说明、提出异议或申请信用修复。"
            "您可以随时撤回本同意；撤回后平台不再向您展示积分，已依法报送的记录仍按规定保存。"),
    },
    "merchant_share": {
        "title": "向签约商户出示信用等级",
        "text": (
            "您同意在您主动出示核验码时，签约商户可以看到您是否符合其守信激励优惠的条件"
            "（等级），以便为您办理优惠。商户看不到您的身份证号、积分明细和信用记录，"
            "每次核验都会记入您的查询记录。您可以随时撤回本同意，撤回后商户无法再核验您的核验码。"),
    },
}


def current(version: str) -> dict[str, Any]:
    """The policy in force: its version and each scope's title and text."""
    return {"version": version, "scopes": {scope: dict(text) for scope, text in SCOPE_TEXTS.items()}}


def check_version(given: str, version: str) -> None:
    if given != version:
        raise Invalid(gettext("policy version {given} is not the policy in force ({version})",
                              given=given, version=version),
                      "POLICY_VERSION_UNKNOWN", errors={"json": {"policy_version": [
                          gettext("must be {version}, the version of GET /v1/policies/current",
                                  version=version)]}},
                      current_version=version)
