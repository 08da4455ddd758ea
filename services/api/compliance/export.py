"""The compliance table as files for the Office: CSV (UTF-8 with BOM, so Excel shows Vietnamese) and XLSX.

Phones are written as Vietnamese officials read them ("0912 345 678"): spreadsheets would turn
"+84912345678" into the number 84912345678.
"""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from services.api.compliance.schemas import Compliance
from shared.phones import national_format
from shared.timeutil import to_vietnam

HEADERS = [
    "Mã đơn vị",
    "Tên đơn vị",
    "Loại",
    "Trạng thái",
    "Thời điểm gửi",
    "Cán bộ đầu mối",
    "Điện thoại",
    "Thư điện tử",
]
STATUS_LABELS = {"on_time": "Đúng hạn", "late": "Muộn", "missing": "Chưa gửi"}
KIND_LABELS = {
    "department": "Sở, ban, ngành",
    "agency": "Cơ quan, đơn vị",
    "ward": "Phường",
    "commune": "Xã",
    "town": "Thị trấn",
    "city": "Thành phố",
    "province": "Tỉnh",
}


def _rows(report: Compliance) -> list[list[str]]:
    rows = []
    for u in report.units:
        fp = u.focal_point
        rows.append(
            [
                u.unit_code,
                u.unit_name,
                KIND_LABELS.get(u.unit_kind, u.unit_kind),
                STATUS_LABELS[u.status],
                to_vietnam(u.submitted_at).strftime("%d/%m/%Y %H:%M:%S") if u.submitted_at else "",
                fp.full_name if fp else "",
                national_format(fp.phone) if fp else "",
                fp.email if fp else "",
            ]
        )
    return rows


def _summary(report: Compliance) -> list[list[str | int | float]]:
    return [
        ["Văn bản", report.number],
        ["Hạn chót", to_vietnam(report.deadline).strftime("%d/%m/%Y %H:%M")],
        ["Tính đến", to_vietnam(report.as_of).strftime("%d/%m/%Y %H:%M")],
        ["Số đơn vị phải gửi", report.expected],
        ["Đã gửi", report.submitted],
        ["Đúng hạn", report.on_time],
        ["Muộn", report.late],
        ["Chưa gửi", report.missing],
        ["Tỷ lệ gửi báo cáo", report.reporting_rate],
        ["Tỷ lệ đúng hạn", report.on_time_rate],
    ]


def _neutralise(value: str) -> str:
    """CSV cells starting with = + - @ run as formulas in spreadsheets: prefix them (CSV injection).
    The XLSX export types its cells instead, so its values stay exactly the table's."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(report: Compliance) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for row in _rows(report):
        writer.writerow([_neutralise(c) for c in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: Compliance) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet), "a new workbook has one worksheet"
    sheet.title = "Danh sách đơn vị"
    sheet.append(HEADERS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in _rows(report):
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text that looks like a formula stays text
    for index, width in enumerate([12, 36, 12, 12, 20, 28, 16, 32], start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    summary = workbook.create_sheet("Tổng hợp")
    for line in _summary(report):
        summary.append(line)
    summary.column_dimensions["A"].width = 24
    summary.column_dimensions["B"].width = 24
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
