"""Every text a client or an operator reads, in Vietnamese (default) and English.

Keys are stable: they are also the last part of a problem's ``type``. Placeholders use
``str.format`` names supplied by whoever raises the error.
"""

from __future__ import annotations

# key: (title_vi, title_en)
TITLES: dict[str, tuple[str, str]] = {
    "validation-error": ("Dữ liệu không hợp lệ", "Invalid request"),
    "unauthorized": ("Chưa xác thực", "Unauthorized"),
    "forbidden": ("Không có quyền", "Forbidden"),
    "not-found": ("Không tìm thấy", "Not found"),
    "method-not-allowed": ("Phương thức không được hỗ trợ", "Method not allowed"),
    "conflict": ("Xung đột dữ liệu", "Conflict"),
    "idempotency-conflict": ("Yêu cầu đang được xử lý", "Request still in progress"),
    "idempotency-mismatch": ("Idempotency-Key đã dùng cho yêu cầu khác", "Idempotency-Key reused"),
    "payload-too-large": ("Yêu cầu quá lớn", "Payload too large"),
    "unsupported-media-type": ("Kiểu dữ liệu không được hỗ trợ", "Unsupported media type"),
    "rate-limited": ("Vượt giới hạn tần suất", "Too many requests"),
    "service-unavailable": ("Dịch vụ tạm thời không khả dụng", "Service unavailable"),
    "internal-error": ("Lỗi hệ thống", "Internal error"),
    "sign-in-locked": ("Tạm khoá đăng nhập", "Sign-in locked"),
    "password-change-required": ("Cần đổi mật khẩu", "Password change required"),
}

# key: (detail_vi, detail_en)
DETAILS: dict[str, tuple[str, str]] = {
    # generic
    "validation-error": ("Một số trường không hợp lệ.", "Some fields are invalid."),
    "unauthorized": (
        "Thiếu khoá API hoặc khoá không hợp lệ / đã bị thu hồi. Gửi 'Authorization: Bearer <khoá>'.",
        "Missing, unknown or revoked API key. Send 'Authorization: Bearer <key>'.",
    ),
    "forbidden-role": (
        "Vai trò '{role}' không được phép thực hiện thao tác này.",
        "Role '{role}' may not do this.",
    ),
    "forbidden-unit": (
        "Khoá này chỉ được dùng cho đơn vị {own}, không phải {unit}.",
        "This key is bound to unit {own}, not {unit}.",
    ),
    "forbidden-directive": (
        "Văn bản này không gửi tới đơn vị {own}.",
        "This directive does not address unit {own}.",
    ),
    "not-found": ("Không tìm thấy tài nguyên được yêu cầu.", "The requested resource does not exist."),
    "method-not-allowed": ("Phương thức HTTP này không được hỗ trợ ở đây.", "This HTTP method is not allowed here."),
    "cors-refused": (
        "Trang web ở nguồn (Origin) này không được phép gọi API từ trình duyệt.",
        "Pages of this origin may not call the API from a browser.",
    ),
    "payload-too-large": (
        "Nội dung yêu cầu vượt quá {limit} byte.",
        "The request body exceeds {limit} bytes.",
    ),
    "unsupported-media-type": (
        "Nội dung phải là JSON (Content-Type: application/json).",
        "The body must be JSON (Content-Type: application/json).",
    ),
    "rate-limited": (
        "Khoá này đã vượt giới hạn {limit} yêu cầu/phút. Thử lại sau {retry_after} giây.",
        "This key exceeded its limit of {limit} requests per minute. Retry in {retry_after} s.",
    ),
    "unsupported-media-type-csv": (
        "Nội dung phải là tệp CSV (Content-Type: text/csv).",
        "The body must be CSV (Content-Type: text/csv).",
    ),
    "database-unavailable": (
        "Cơ sở dữ liệu tạm thời không khả dụng. Vui lòng thử lại sau.",
        "The database is temporarily unavailable. Please retry later.",
    ),
    "database-busy": (
        "Hệ thống đang quá tải. Vui lòng thử lại sau giây lát.",
        "The service is overloaded. Please retry in a moment.",
    ),
    "internal-error": (
        "Đã xảy ra lỗi không mong muốn. Mã yêu cầu: {request_id}.",
        "An unexpected error occurred. Request id: {request_id}.",
    ),
    "idempotency-conflict": (
        "Một yêu cầu với cùng Idempotency-Key đang được xử lý. Thử lại sau.",
        "A request with the same Idempotency-Key is still being processed. Retry later.",
    ),
    "idempotency-mismatch": (
        "Idempotency-Key này đã được dùng với nội dung khác.",
        "This Idempotency-Key was already used with a different body.",
    ),
    # units
    "unit-not-found": ("Không có đơn vị mã {code}.", "There is no unit with code {code}."),
    "unit-exists": ("Đơn vị mã {code} đã tồn tại.", "A unit with code {code} already exists."),
    # directives
    "directive-not-found": ("Không có văn bản chỉ đạo {id}.", "There is no directive {id}."),
    "directive-exists": (
        "Văn bản số {number} năm {year} đã tồn tại.",
        "Directive {number} of {year} already exists.",
    ),
    # registrations
    "registration-not-found": ("Không có đăng ký {id}.", "There is no registration {id}."),
    "registration-not-active": (
        "Đăng ký này không còn hiệu lực (trạng thái: {state}).",
        "This registration is no longer active (status: {state}).",
    ),
    "unit-not-addressed": (
        "Văn bản {number} không gửi tới đơn vị {code}.",
        "Directive {number} does not address unit {code}.",
    ),
    # adoption
    "no-valid-event": (
        "Không có sự kiện hợp lệ nào; xem 'rejected' để biết lỗi của từng sự kiện.",
        "No event is valid; see 'rejected' for each event's errors.",
    ),
    "too-many-events": (
        "Tối đa {limit} sự kiện mỗi yêu cầu; yêu cầu này có {count}.",
        "At most {limit} events a request; this one has {count}.",
    ),
    "forbidden-events-unit": (
        "Khoá này chỉ được gửi sự kiện của đơn vị {own}.",
        "This key may only post events of unit {own}.",
    ),
    "range-too-long": (
        "Khoảng thời gian tối đa {days} ngày.",
        "The range may span at most {days} days.",
    ),
    # keys
    "key-not-found": ("Không có khoá API {id}.", "There is no API key {id}."),
    # people and sessions
    "person-not-found": ("Không có tài khoản {id}.", "There is no person {id}."),
    "person-exists": ("Tên đăng nhập {login} đã có người dùng.", "The login {login} is taken."),
    "sign-in-failed": ("Tên đăng nhập hoặc mật khẩu không đúng.", "Wrong login or password."),
    "sign-in-locked": (
        "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
        "Too many failed sign-ins. Please try again in {minutes} minutes.",
    ),
    "password-change-required": (
        "Cần đổi mật khẩu trước khi làm việc khác (POST /v1/sessions/current/password).",
        "Change the password before anything else (POST /v1/sessions/current/password).",
    ),
    "forbidden-not-session": (
        "Thao tác này dành cho phiên đăng nhập của một người, không dành cho khoá API.",
        "This is for a person's session, not for an API key.",
    ),
    # units import
    "units-import-invalid": (
        "Tệp CSV có {count} dòng không hợp lệ; chưa đơn vị nào được thay đổi.",
        "{count} lines of the CSV are invalid; no unit was changed.",
    ),
    "units-import-unreadable": ("Không đọc được tệp CSV danh sách đơn vị.", "The unit CSV cannot be read."),
}

# Field-level messages: pydantic error types and our own validators' types.
FIELD_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("Trường này là bắt buộc.", "This field is required."),
    "extra_forbidden": ("Trường không được hỗ trợ.", "Unknown field."),
    "string_type": ("Phải là chuỗi ký tự.", "Must be a string."),
    "int_type": ("Phải là số nguyên.", "Must be an integer."),
    "int_parsing": ("Phải là số nguyên.", "Must be an integer."),
    "bool_type": ("Phải là true hoặc false.", "Must be true or false."),
    "bool_parsing": ("Phải là true hoặc false.", "Must be true or false."),
    "list_type": ("Phải là một danh sách.", "Must be a list."),
    "dict_type": ("Phải là một đối tượng JSON.", "Must be a JSON object."),
    "model_type": ("Phải là một đối tượng JSON.", "Must be a JSON object."),
    "json_invalid": ("Nội dung không phải JSON hợp lệ.", "The body is not valid JSON."),
    "text_or_integer": ("Phải là chuỗi ký tự hoặc số nguyên.", "Must be text or an integer."),
    "string_unicode": (
        "Chứa ký tự Unicode không hợp lệ (nửa cặp thay thế).",
        "Holds an invalid Unicode character (a lone surrogate).",
    ),
    "string_too_short": ("Phải có ít nhất {min_length} ký tự.", "Must have at least {min_length} characters."),
    "string_too_long": ("Không được dài quá {max_length} ký tự.", "Must have at most {max_length} characters."),
    "too_short": ("Phải có ít nhất {min_length} phần tử.", "Must have at least {min_length} items."),
    "too_long": ("Không được nhiều hơn {max_length} phần tử.", "Must have at most {max_length} items."),
    "greater_than_equal": ("Phải lớn hơn hoặc bằng {ge}.", "Must be greater than or equal to {ge}."),
    "less_than_equal": ("Phải nhỏ hơn hoặc bằng {le}.", "Must be less than or equal to {le}."),
    "string_pattern_mismatch": ("Định dạng không hợp lệ.", "Invalid format."),
    "literal_error": ("Phải là một trong: {expected}.", "Must be one of: {expected}."),
    "enum": ("Phải là một trong: {expected}.", "Must be one of: {expected}."),
    "uuid_parsing": ("Phải là UUID hợp lệ.", "Must be a valid UUID."),
    "uuid_type": ("Phải là UUID hợp lệ.", "Must be a valid UUID."),
    "date_from_datetime_parsing": ("Phải là ngày dạng YYYY-MM-DD.", "Must be a date (YYYY-MM-DD)."),
    "date_parsing": ("Phải là ngày dạng YYYY-MM-DD.", "Must be a date (YYYY-MM-DD)."),
    "date_type": ("Phải là ngày dạng YYYY-MM-DD.", "Must be a date (YYYY-MM-DD)."),
    "datetime_parsing": (
        "Phải là thời điểm RFC 3339 có múi giờ, ví dụ 2020-02-15T00:00:00+07:00.",
        "Must be an RFC 3339 time with offset, e.g. 2020-02-15T00:00:00+07:00.",
    ),
    "datetime_from_date_parsing": (
        "Phải là thời điểm RFC 3339 có múi giờ, ví dụ 2020-02-15T00:00:00+07:00.",
        "Must be an RFC 3339 time with offset, e.g. 2020-02-15T00:00:00+07:00.",
    ),
    "datetime_type": (
        "Phải là thời điểm RFC 3339 có múi giờ, ví dụ 2020-02-15T00:00:00+07:00.",
        "Must be an RFC 3339 time with offset, e.g. 2020-02-15T00:00:00+07:00.",
    ),
    "year_out_of_range": ("Năm phải từ 1900 đến 2199.", "The year must be from 1900 to 2199."),
    "timezone_aware": (
        "Thời điểm phải có múi giờ (ví dụ +07:00).",
        "The time must carry an offset (e.g. +07:00).",
    ),
    # our validators
    "text_blank": ("Không được để trống.", "Must not be blank."),
    "phone_invalid": (
        "Số điện thoại không hợp lệ: {value}.",
        "Not a valid phone number: {value}.",
    ),
    "phone_not_vietnamese": (
        "Phải là số điện thoại Việt Nam (+84).",
        "Must be a Vietnamese phone number (+84).",
    ),
    "phone_not_mobile": (
        "Phải là số di động (để nhận SMS); {value} là số cố định hoặc không phải số di động.",
        "Must be a mobile number (it receives SMS); {value} is a landline or not a mobile number.",
    ),
    "phone_old_format": (
        "Số {value} là số di động 11 chữ số cũ, đã đổi từ năm 2018; số mới là {new}.",
        "{value} is an old 11-digit mobile number, changed in 2018; its new form is {new}.",
    ),
    "email_invalid": ("Địa chỉ thư điện tử không hợp lệ.", "Invalid e-mail address: {reason}"),
    "unit_codes_unknown": (
        "Không có đơn vị đang hoạt động với mã: {codes}.",
        "No active unit with code: {codes}.",
    ),
    "unit_codes_duplicate": ("Mã đơn vị bị lặp: {codes}.", "Repeated unit codes: {codes}."),
    "deadline_before_issue": (
        "Hạn chót phải sau ngày ban hành ({issued_on}).",
        "The deadline must be after the issue date ({issued_on}).",
    ),
    "parent_unknown": ("Không có đơn vị cha mã {code}.", "There is no parent unit with code {code}."),
    "parent_self": ("Đơn vị không thể là cha của chính nó.", "A unit cannot be its own parent."),
    "role_needs_unit": (
        "Vai trò ward_app phải gắn với một đơn vị (unit_code). Người có vai trò unit cũng vậy.",
        "The ward_app role must be bound to one unit (unit_code). So must a person of role unit.",
    ),
    "role_forbids_unit": (
        "Chỉ vai trò ward_app (khoá API) và unit (người) được gắn với đơn vị.",
        "Only the ward_app role (keys) and the unit role (people) are bound to a unit.",
    ),
    "login_invalid": (
        "Tên đăng nhập gồm 3 đến 64 ký tự: chữ cái không dấu, chữ số, dấu chấm, gạch ngang, gạch dưới.",
        "A login has 3 to 64 characters: letters without accents, digits, dots, hyphens, underscores.",
    ),
    "password_is_login": (
        "Mật khẩu mới không được trùng với tên đăng nhập.",
        "The new password must not be the login.",
    ),
    "password_wrong": ("Mật khẩu hiện tại không đúng.", "The current password is wrong."),
    "csv_unreadable": (
        "Tệp phải là CSV UTF-8 có cột ward_code, ward_name, ward_type (danh sách của Tổng cục Thống kê) hoặc "
        "code, name, kind[, parent_code, email, phone, staff_headcount], tối đa {max_rows} dòng.",
        "The file must be UTF-8 CSV with the columns ward_code, ward_name, ward_type (the GSO list) or "
        "code, name, kind[, parent_code, email, phone, staff_headcount], at most {max_rows} rows.",
    ),
    "csv_line_invalid": ("Dòng {line} ({code}): {problem}", "Line {line} ({code}): {problem}"),
    "cursor_invalid": ("Con trỏ phân trang không hợp lệ.", "Invalid pagination cursor."),
    "format_invalid": ("Định dạng phải là json, csv hoặc xlsx.", "Format must be json, csv or xlsx."),
    "unit_code_invalid": (
        "Mã đơn vị chỉ gồm chữ in hoa, chữ số và dấu gạch ngang (tối đa 32 ký tự).",
        "A unit code has upper-case letters, digits and hyphens only (at most 32 characters).",
    ),
    "unit_not_addressed": (
        "Văn bản {number} không gửi tới đơn vị {code}.",
        "Directive {number} does not address unit {code}.",
    ),
    "installed_above_total": (
        "Không được lớn hơn tổng số cán bộ ({le}).",
        "Must not exceed the staff total ({le}).",
    ),
    "range_reversed": ("Phải từ ngày {start} trở đi.", "Must be {start} or later."),
    "range_too_long": ("Khoảng thời gian tối đa {days} ngày.", "The range may span at most {days} days."),
    "value_error": ("Giá trị không hợp lệ.", "Invalid value."),
    "date_in_future": ("Ngày không được ở tương lai.", "The date cannot be in the future."),
    "occurred_in_future": (
        "Thời điểm xảy ra không được ở tương lai.",
        "The time it occurred cannot be in the future.",
    ),
    "duplicate_in_request": (
        "event_id này đã xuất hiện ở một sự kiện trước trong cùng yêu cầu.",
        "This event_id already appears earlier in the same request.",
    ),
}
DEFAULT_FIELD_MESSAGE = ("Giá trị không hợp lệ.", "Invalid value.")

# Codes of the rules a JSON Schema cannot state, because they depend on stored data, on another field,
# on the clock or on the caller: a request its schema allows may still break one (422, each error naming
# its code). Every other 422 code is a rule the OpenAPI documents state.
RULE_CODES = frozenset(
    {
        "unit_codes_unknown",  # no active unit has that code
        "unit_codes_duplicate",  # the same unit twice, in another case
        "unit_not_addressed",  # the directive does not address the unit
        "deadline_before_issue",  # another field
        "parent_unknown",  # no unit has that code
        "parent_self",  # another field
        "role_needs_unit",  # another field
        "role_forbids_unit",  # another field
        "installed_above_total",  # another field
        "range_reversed",  # another field
        "range_too_long",  # another field
        "date_in_future",  # the clock
        "occurred_in_future",  # the clock
        "cursor_invalid",  # not a next_cursor this service gave
        "password_is_login",  # another field (the stored login)
        "password_wrong",  # stored data
        "csv_unreadable",  # the CSV's content: a text body's schema cannot state it
        "csv_line_invalid",  # a line of the CSV, or the units it names
    }
)
