"""SMS text on real Vietnamese sentences: unaccenting, GSM-7/UCS-2 segment counts, cutting to fit."""

from __future__ import annotations

import unicodedata

import pytest

from shared.sms import count_segments, fit, is_gsm7, unaccent

GREETING = "Kính gửi đồng chí Nguyễn Văn Đức"
# A confirmation as a ward's focal point would receive it (149 characters).
CONFIRMATION = (
    "Kính gửi đồng chí Nguyễn Văn Đức, đề nghị đồng chí xác nhận tham gia vận hành Trung tâm "
    "điều hành thành phố thông minh Hạ Long trước ngày 15/02/2020."
)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# --- unaccent -------------------------------------------------------------------------------------


def test_the_architecture_example_reads_correctly_without_accents():
    assert unaccent(GREETING) == "Kinh gui dong chi Nguyen Van Duc"


@pytest.mark.parametrize(
    ("vietnamese", "plain"),
    [
        ("Đường Đông Hồ, đảo Tuần Châu", "Duong Dong Ho, dao Tuan Chau"),  # đ and Đ have no combining mark
        ("Phường Hà Phong: người dân ưu tiên", "Phuong Ha Phong: nguoi dan uu tien"),  # ư
        ("ƯU TIÊN CÔNG DÂN", "UU TIEN CONG DAN"),  # Ư, upper case
        ("Sở Thông tin, ơn nghĩa; ƠN", "So Thong tin, on nghia; ON"),  # ơ, Ơ
        ("Cần Thơ, Bắc Ninh, Quảng Ninh, Hà Tĩnh", "Can Tho, Bac Ninh, Quang Ninh, Ha Tinh"),  # â, ă
        ("Lê Thị Hồng Nhung, ông Tô", "Le Thi Hong Nhung, ong To"),  # ê, ô
        ("ma mà má mả mã mạ", "ma ma ma ma ma ma"),  # the five tones
        ("HUYỆN VÂN ĐỒN, THỊ XÃ QUẢNG YÊN", "HUYEN VAN DON, THI XA QUANG YEN"),
        ("Ngữ, Ỷ, Ỵ, ỹ, Ờ, Ợ, Ữ, Ự, Ặ, Ẩ", "Ngu, Y, Y, y, O, O, U, U, A, A"),
    ],
)
def test_every_vietnamese_letter_keeps_its_base_letter(vietnamese, plain):
    assert unaccent(vietnamese) == plain
    assert is_gsm7(unaccent(vietnamese))


def test_decomposed_input_from_other_keyboards_gives_the_same_text():
    assert nfd(GREETING) != GREETING  # really another byte sequence
    assert unaccent(nfd(GREETING)) == "Kinh gui dong chi Nguyen Van Duc"
    assert unaccent(nfd(CONFIRMATION)) == unaccent(CONFIRMATION)


def test_no_letter_is_replaced_by_a_question_mark():
    text = unaccent(CONFIRMATION)
    assert "?" not in text
    assert text.startswith("Kinh gui dong chi Nguyen Van Duc, de nghi dong chi xac nhan")
    assert text.endswith("thanh pho thong minh Ha Long truoc ngay 15/02/2020.")


def test_typographic_punctuation_pasted_from_word_becomes_plain():
    assert unaccent("“Hạ Long” – ‘Tuần Châu’…") == "\"Ha Long\" - 'Tuan Chau'..."


# --- segment counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)])
def test_gsm7_holds_160_alone_and_153_a_part(length, segments):
    result = count_segments(("Ha Long " * 60)[:length])
    assert (result.encoding, result.units, result.count) == ("GSM-7", length, segments)


@pytest.mark.parametrize("char", ["€", "[", "]", "{", "}", "~", "^", "|", "\\"])
def test_extension_characters_count_two(char):
    assert count_segments("a" * 158 + char).units == 160
    assert count_segments("a" * 158 + char).count == 1
    assert count_segments("a" * 159 + char).count == 2


def test_an_extension_character_is_never_split_between_two_parts():
    # 152 letters, then "€" (2 septets) does not fit the 153 of the first part and moves to the next.
    text = "a" * 152 + "€" + "a" * 152  # 306 septets: two parts if the escape pair were split
    assert count_segments(text).units == 306
    assert count_segments(text).count == 3
    assert count_segments("a" * 151 + "€" + "a" * 153).count == 2  # the pair ends the first part exactly


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_ucs2_holds_70_alone_and_67_a_part(length, segments):
    result = count_segments(("Hạ Long " * 30)[:length])
    assert (result.encoding, result.count) == ("UCS-2", segments)


def test_an_emoji_takes_two_ucs2_units_and_is_not_split():
    assert count_segments("ạ" * 68 + "👍").units == 70
    assert count_segments("ạ" * 68 + "👍").count == 1
    assert count_segments("ạ" * 66 + "👍" + "ạ" * 66).count == 3  # the pair would straddle 67


def test_an_accented_vietnamese_sms_is_ucs2_and_its_unaccented_form_is_cheaper():
    accented, plain = count_segments(CONFIRMATION), count_segments(unaccent(CONFIRMATION))
    assert accented.encoding == "UCS-2" and accented.count == 3
    assert plain.encoding == "GSM-7" and plain.count == 1
    # A single accented letter is enough to make the whole message UCS-2.
    assert count_segments("Kinh gui dong chi Nguyen Van Đuc").encoding == "UCS-2"


def test_decomposed_accents_are_counted_as_the_units_they_are():
    # NFD "ễ" is three code units: the count must follow what is actually sent.
    assert count_segments(nfd("Nguyễn")).units == len(nfd("Nguyễn")) == 8


# --- fit ----------------------------------------------------------------------------------------------


def test_a_message_that_fits_is_left_alone():
    assert fit(unaccent(CONFIRMATION), 1) == unaccent(CONFIRMATION)
    assert fit(CONFIRMATION, 3) == CONFIRMATION


@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_a_long_unaccented_message_is_cut_to_max_segments_with_an_ellipsis(max_segments):
    long = unaccent(CONFIRMATION + " " + CONFIRMATION + " " + CONFIRMATION + " " + CONFIRMATION)
    cut = fit(long, max_segments)
    assert cut.endswith("...") and long.startswith(cut[:-3])
    result = count_segments(cut)
    assert result.encoding == "GSM-7" and result.count == max_segments
    # As much as fits: a single segment is filled to the last septet or nearly.
    assert result.units > (160 if max_segments == 1 else 153 * max_segments) - 10


def test_a_long_accented_message_is_cut_in_ucs2_units():
    cut = fit(CONFIRMATION, 1)
    assert cut.endswith("...") and CONFIRMATION.startswith(cut[:-3])
    assert count_segments(cut).count == 1 and count_segments(cut).units <= 70
    assert cut.startswith("Kính gửi đồng chí Nguyễn Văn Đức")


def test_cutting_does_not_leave_a_dangling_space_before_the_ellipsis():
    cut = fit(unaccent(CONFIRMATION) * 3, 1)
    assert not cut[:-3].endswith(" ")
