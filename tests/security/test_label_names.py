"""Labels that look identical are one label, or refused (issue 9 §4).

Before: NFC and NFD forms of one word, names with zero-width or bidirectional control
characters, and names mixing Latin and Cyrillic look-alikes were all new, distinct labels.
Case is kept and significant (``Cat`` and ``cat`` are two labels; docs/api.md).
"""

from __future__ import annotations

import base64
import io
import unicodedata
import uuid

import pytest
from PIL import Image

from labelarts.schemas.common import mixes_scripts
from tests.conftest import LiveServer, Tenant, assert_error, create_dataset

CAFE_NFC = unicodedata.normalize("NFC", "café")
CAFE_NFD = unicodedata.normalize("NFD", "café")


@pytest.fixture
def tenant_and_dataset(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant]
) -> tuple[Tenant, str]:
    tenant, _ = shared_tenants
    return tenant, create_dataset(tenant.aksk, tenant.project_id, f"names-{uuid.uuid4().hex[:8]}")


def _labels_path(tenant: Tenant, dataset_id: str) -> str:
    return tenant.v2(f"/datasets/{dataset_id}/data-annotations/labels")


def _names(tenant: Tenant, dataset_id: str) -> list[str]:
    response = tenant.aksk.get(_labels_path(tenant, dataset_id))
    assert response.status_code == 200, response.text
    return sorted(label["name"] for label in response.json()["labels"])


def test_nfc_and_nfd_forms_are_one_label(tenant_and_dataset: tuple[Tenant, str]) -> None:
    tenant, dataset_id = tenant_and_dataset
    assert CAFE_NFC != CAFE_NFD
    created = tenant.aksk.post(_labels_path(tenant, dataset_id), json={"labels": [{"name": CAFE_NFD}]})
    assert created.status_code == 200, created.text
    assert _names(tenant, dataset_id) == [CAFE_NFC]  # stored in NFC
    again = tenant.aksk.post(_labels_path(tenant, dataset_id), json={"labels": [{"name": CAFE_NFC}]})
    assert_error(again, 400, "ModelArts.4411")
    # Looked up by either form.
    for form in (CAFE_NFC, CAFE_NFD):
        path = f"{_labels_path(tenant, dataset_id)}/{form}"
        response = tenant.aksk.put(path, json={"@modelarts:color": "#000000"})
        assert response.status_code == 204, response.text
    assert _names(tenant, dataset_id) == [CAFE_NFC]


def test_a_sample_labelled_in_nfd_carries_the_nfc_label(tenant_and_dataset: tuple[Tenant, str]) -> None:
    tenant, dataset_id = tenant_and_dataset
    assert tenant.aksk.post(
        _labels_path(tenant, dataset_id), json={"labels": [{"name": CAFE_NFC}]}
    ).is_success
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    sample = {
        "name": "a.png",
        "data": base64.b64encode(buffer.getvalue()).decode(),
        "labels": [{"name": CAFE_NFD}],
    }
    samples_path = tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples")
    response = tenant.aksk.post(samples_path, json={"samples": [sample]})
    assert response.status_code == 200, response.text
    assert _names(tenant, dataset_id) == [CAFE_NFC]
    listed = tenant.aksk.get(samples_path, params={"label_name": CAFE_NFD})
    assert listed.status_code == 200, listed.text
    [found] = listed.json()["samples"]
    assert [label["name"] for label in found["labels"]] == [CAFE_NFC]


INVISIBLE = {
    "zero-width space": "ca\u200bt",
    "zero-width joiner": "ca\u200dt",
    "zero-width non-joiner": "ca\u200ct",
    "word joiner": "ca\u2060t",
    "byte order mark": "\ufeffcat",
    "soft hyphen": "ca\u00adt",
    "right-to-left override": "\u202ecat",
    "left-to-right mark": "cat\u200e",
    "first strong isolate": "\u2068cat\u2069",
    "no-break space": "big\u00a0cat",
    "hangul filler": "cat\u3164",
    "escape": "ca\x1bt",
    "delete": "ca\x7ft",
    "line separator": "ca\u2028t",
    "private use": "ca\ue000t",
}
LOOK_ALIKES = {
    "Latin + Cyrillic a": "C\u0430t",
    "Cyrillic + Latin": "\u0441at",  # Cyrillic es
    "Latin + Greek omicron": "d\u03bfg",
    "Latin + Bengali digit": "cat\u09ea",  # looks like 8
}


@pytest.mark.parametrize("name", [*INVISIBLE.values(), *LOOK_ALIKES.values()], ids=[*INVISIBLE, *LOOK_ALIKES])
def test_invisible_and_look_alike_names_are_400(tenant_and_dataset: tuple[Tenant, str], name: str) -> None:
    tenant, dataset_id = tenant_and_dataset
    assert tenant.aksk.post(_labels_path(tenant, dataset_id), json={"labels": [{"name": "cat"}]}).is_success
    for body in (
        {"labels": [{"name": name}]},
        {"labels": [{"name": "cat", "property": {"@modelarts:rename_to": name}}]},
    ):
        method = tenant.aksk.post if "property" not in body["labels"][0] else tenant.aksk.put
        assert_error(method(_labels_path(tenant, dataset_id), json=body), 400)
    assert _names(tenant, dataset_id) == ["cat"]


WELL_FORMED = [
    "Cat",
    "cat",  # case is significant: a second label
    "кошка",
    "γάτα",
    "Tシャツ",  # Latin with Katakana: one Japanese word
    "猫かわいい",
    "고양이 猫",
    "cat кошка",  # two words, each in one script
    "👩\u200d💻",  # refused: the ZWJ of emoji sequences is a zero-width character too
]


def test_names_in_one_script_per_word_are_accepted(tenant_and_dataset: tuple[Tenant, str]) -> None:
    tenant, dataset_id = tenant_and_dataset
    accepted = WELL_FORMED[:-1]
    response = tenant.aksk.post(
        _labels_path(tenant, dataset_id), json={"labels": [{"name": n} for n in accepted]}
    )
    assert response.status_code == 200, response.text
    assert _names(tenant, dataset_id) == sorted(accepted)
    assert_error(
        tenant.aksk.post(_labels_path(tenant, dataset_id), json={"labels": [{"name": WELL_FORMED[-1]}]}), 400
    )


@pytest.mark.parametrize(
    ("word", "mixed"),
    [
        ("Cat", False),
        ("C\u0430t", True),
        ("Tシャツ", False),
        ("日本語ABC", False),
        ("한국어漢字", False),
        ("Cat8", False),
        ("\u0661\u0662abc", True),
        ("e\u0301", False),
    ],
)
def test_mixes_scripts(word: str, mixed: bool) -> None:
    assert mixes_scripts(word) is mixed
