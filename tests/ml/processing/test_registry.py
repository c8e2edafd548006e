"""Templates, operator lookup and seeded randomness."""

from __future__ import annotations

import pytest

from labelarts.ml.processing import (
    GAN_OPERATORS,
    OPERATORS,
    TEMPLATES,
    ProcessingParameterError,
    SampleOperator,
    SetOperator,
    get_operator,
    rng_for,
)


def test_templates_are_the_four_of_the_reference_with_real_chinese_labels() -> None:
    assert [(t.template_id, t.label_en, t.label_zh) for t in TEMPLATES.values()] == [
        ("sys_data_cleaning", "data cleaning", "数据清洗"),
        ("sys_data_validation", "data validation", "数据校验"),
        ("sys_data_selection", "data selection", "数据选择"),
        ("sys_data_augmentation", "data augmentation", "数据增强"),
    ]
    assert TEMPLATES["sys_data_validation"].operators == ("MetaValidation",)
    assert TEMPLATES["sys_data_augmentation"].total_status == (3,)
    assert len(TEMPLATES["sys_data_augmentation"].operators) == 19


def test_every_implemented_operator_has_its_kind_and_template() -> None:
    listed = {name for spec in TEMPLATES.values() for name in spec.operators}
    for name, operator in OPERATORS.items():
        assert operator.name == name
        assert name in listed
        if operator.kind == "sample":
            assert isinstance(operator, SampleOperator)
        else:
            assert isinstance(operator, SetOperator)


@pytest.mark.parametrize("name", [*GAN_OPERATORS, "Nope", ""])
def test_unknown_and_gan_operators_are_refused_listing_the_supported_ones(name: str) -> None:
    with pytest.raises(ProcessingParameterError) as caught:
        get_operator(name)
    assert caught.value.error_code == "ModelArts.4396"
    assert "MetaValidation" in caught.value.message
    if name in GAN_OPERATORS:
        assert "GAN" in caught.value.message


def test_an_operator_of_another_template_is_refused() -> None:
    assert get_operator("MetaValidation", "sys_data_validation").name == "MetaValidation"
    with pytest.raises(ProcessingParameterError) as caught:
        get_operator("MetaValidation", "sys_data_augmentation")
    assert caught.value.error_code == "ModelArts.4396"
    assert "MetaValidation" not in caught.value.message.split("Supported operators:")[1]


def test_randomness_depends_on_version_and_sample_only() -> None:
    first = rng_for("version-1", "sample-1").random(4).tolist()
    assert rng_for("version-1", "sample-1").random(4).tolist() == first
    assert rng_for("version-1", "sample-2").random(4).tolist() != first
    assert rng_for("version-2", "sample-1").random(4).tolist() != first
