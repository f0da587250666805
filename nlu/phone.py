"""Phone numbers in citizen speech: extraction, validation with a spoken reason, masking.

Accepted and normalised (digits only):

* mobile: 11 digits 1[3-9]xxxxxxxxx, optionally after +86 / 86 / 0086 or a leading 0;
* Beijing landline: 8 digits not starting with 0 or 1, stored WITH the area code: "01067891234"
  (from "6789 1234", "010-6789 1234", "(010)67891234", "+86 10 6789 1234");
* other Chinese landlines with their area code (022-xxxxxxxx, 0316-xxxxxxx).

Something phone-like that is not valid yields `error` (a Mandarin sentence for the citizen) and
`error_code`. A digit run is phone-like when it has 7+ digits, or 5+ after words such as 电话/手机/号码,
or any 3+ digits when the caller says a phone number is expected. Ticket numbers, ID cards, bank
cards, amounts and service numbers (12345, 110) are never taken for phones.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from nlu.digits import DigitRun, find_digit_runs, to_halfwidth
from nlu.ticketno import is_ticket_digits

_PHONE_CONTEXT = re.compile(r"(电话|手机|号码|联系方式|座机|回电|打给我|联系我|手机号|固话|拨打)")
_NOT_PHONE_CONTEXT = re.compile(r"(身份证|证件号|银行卡|卡号|账号|帐号|工单|单号|订单|编号|车牌|学号|工号|密码|验证码|护照)")
_UNIT_AFTER = re.compile(
    r"^\s*(元|块|年|月|日|米|平|次|个|天|小时|分钟|楼|层|室|单元|人|岁|度|%|万|千|百|斤|公里|号楼|号院|号线|路|期|届|克|户|栋|台|辆|毫|升|瓦)"
)
_SERVICE_NUMBER = re.compile(r"^(1\d{2,5}|9\d{4})$")  # 110, 12345, 12315, 95588 ...

ERROR_MESSAGES = {
    "too_short_mobile": "您说的号码是{g}，只有{n}位，手机号码应该是11位，请您再说一遍。",
    "too_long_mobile": "您说的号码是{g}，有{n}位，手机号码应该是11位，请您再说一遍。",
    "bad_mobile_prefix": "您说的号码是{g}，手机号码的第二位应该是3到9之间的数字，请您核对一下再说一遍。",
    "too_short_landline": "您说的号码是{g}，只有{n}位，北京的座机号码是8位，不含区号010，请您再说一遍。",
    "too_long_landline": "您说的号码是{g}，有{n}位，北京的座机号码是8位，不含区号010，请您再说一遍。",
    "bad_beijing_landline": "您说的号码是{g}，区号010后面应该是8位座机号码，请您再说一遍。",
    "bad_landline": "您说的号码是{g}，座机号码的位数不对，区号后面应该是7到8位，请您再说一遍。",
    "service_number": "{g}是服务热线号码，请留您本人的手机号码或座机号码。",
    "invalid": "您说的号码是{g}，这个号码格式不对，请说一个手机号码或者座机号码。",
}


@dataclass(frozen=True)
class PhoneResult:
    """Outcome of phone extraction: a normalised number, or an error, or nothing phone-like."""

    phone: str | None = None
    kind: str | None = None  # "mobile" | "landline"
    error: str | None = None  # Mandarin sentence to say to the citizen
    error_code: str | None = None
    digits: str | None = None  # the digits heard (also when invalid)
    start: int | None = None
    end: int | None = None

    @property
    def ok(self) -> bool:
        """Whether a valid number was found."""
        return self.phone is not None

    @property
    def found(self) -> bool:
        """Whether anything phone-like was said."""
        return self.digits is not None


def validate_phone(digits: str) -> tuple[str | None, str | None, str | None]:
    """(normalised number, kind, error code) for a digit string."""
    d = re.sub(r"\D", "", digits or "")
    if not d:
        return None, None, "invalid"
    if d.startswith("0086") and len(d) > 12:
        d = d[4:]
    if d.startswith("86") and len(d) in (12, 13):
        rest = d[2:]
        if re.fullmatch(r"1[3-9]\d{9}", rest):
            d = rest
        elif len(rest) == 10 and rest.startswith("10"):
            d = "0" + rest
    if re.fullmatch(r"01[3-9]\d{9}", d):  # a 0 dialled before a mobile number
        d = d[1:]
    if d[0] == "1":
        if len(d) == 11:
            return (d, "mobile", None) if d[1] in "3456789" else (None, None, "bad_mobile_prefix")
        if _SERVICE_NUMBER.match(d):
            return None, None, "service_number"
        return None, None, "too_short_mobile" if len(d) < 11 else "too_long_mobile"
    if d[0] == "0":
        if len(d) < 3:  # "0", "01": no area code, nothing to read
            return None, None, "invalid"
        if d.startswith("010"):
            local = d[3:]
            if len(local) == 8 and local[0] in "23456789":
                return d, "landline", None
            return None, None, "bad_beijing_landline"
        if d[1] == "2":  # 020-029: three-digit area codes
            ok = len(d) == 11 and d[3] in "23456789"
        elif d[1] in "3456789":
            ok = len(d) in (11, 12) and d[4] in "23456789"
        else:
            ok = False
        return (d, "landline", None) if ok else (None, None, "bad_landline")
    if re.fullmatch(r"[48]00\d{7}", d) or _SERVICE_NUMBER.match(d):
        return None, None, "service_number"
    if len(d) == 8:
        return "010" + d, "landline", None
    return None, None, "too_short_landline" if len(d) < 8 else "too_long_landline"


def error_message(code: str, digits: str) -> str:
    """The Mandarin sentence for an error code, quoting the digits heard."""
    template = ERROR_MESSAGES.get(code, ERROR_MESSAGES["invalid"])
    return template.format(g=group_for_speech(digits), n=len(digits))


def _phone_like(text: str, run: DigitRun, expected: bool) -> bool:
    before = text[max(0, run.start - 10):run.start]
    after = text[run.end:run.end + 4]
    if _NOT_PHONE_CONTEXT.search(before) or is_ticket_digits(run.digits):
        return False
    if _UNIT_AFTER.match(after) or (run.start > 0 and text[run.start - 1] in "第¥￥$"):
        return False
    if len(run.digits) in (15, 16, 17, 18, 19) and not re.match(r"(\+|00)?86", run.digits):
        return False  # ID or bank card numbers
    n = len(re.sub(r"^(00)?86(?=1[3-9]\d{9}$)", "", run.digits))
    if expected:
        return n >= 3
    if _PHONE_CONTEXT.search(before):
        return n >= 5 and not _SERVICE_NUMBER.match(run.digits)
    if n == 8 and is_ticket_digits(run.digits + "000000"):
        return False  # a date such as 20240315
    return 7 <= n <= 14


def extract_phone(text: str, expected: bool = False) -> PhoneResult:
    """The first valid phone number in `text`, else the first phone-like error, else empty.

    `expected`: the citizen was just asked for a phone number, so any digit run counts.
    """
    if not text:
        return PhoneResult()
    half = to_halfwidth(text)
    runs = find_digit_runs(half, min_digits=3 if expected else 5)
    first_error: PhoneResult | None = None
    for run in runs:
        if not _phone_like(half, run, expected):
            continue
        number, kind, code = validate_phone(run.digits)
        if number:
            return PhoneResult(number, kind, None, None, run.digits, run.start, run.end)
        if first_error is None and code:
            first_error = PhoneResult(None, None, error_message(code, run.digits), code, run.digits, run.start, run.end)
    return first_error or PhoneResult()


def group_for_speech(number: str) -> str:
    """Digits in groups for reading back: "13911112222" -> "139 1111 2222", "01067891234" -> "010 6789 1234"."""
    d = re.sub(r"\D", "", number or "")
    if len(d) <= 4:
        return d
    if len(d) == 7:
        sizes = [3, 4]
    elif len(d) == 8:
        sizes = [4, 4]
    elif len(d) == 12:
        sizes = [4, 4, 4]
    else:
        sizes = [3] + [4] * ((len(d) - 3 + 3) // 4)
    parts, i = [], 0
    for size in sizes:
        if i >= len(d):
            break
        parts.append(d[i:i + size])
        i += size
    if i < len(d):
        parts.append(d[i:])
    return " ".join(parts)
