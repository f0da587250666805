"""Rasa 3.6 NLU component: deterministic district / street / phone / ticket number entities.

Values are normalised (朝阳 -> 朝阳区, 望京 -> 望京街道, 幺三九 幺二三四 五六七八 -> 13912345678,
二零二四零三一五 零零零一二三 -> 20240315-000123); start/end are character offsets in the
message text. Config: `- name: nlu.components.HotlineEntityExtractor`.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu import places
from nlu.phone import extract_phone
from nlu.ticketno import find_ticket_no

ENTITY_TYPES = ("district", "street", "phone", "ticket_no")


def hotline_entities(text: str, entity_types: tuple[str, ...] = ENTITY_TYPES) -> List[Dict[Text, Any]]:
    """Entities with spans and normalised values found in `text` (no Rasa objects needed)."""
    entities: List[Dict[Text, Any]] = []
    if not text:
        return entities

    def add(kind: str, start: Optional[int], end: Optional[int], value: str) -> None:
        if kind in entity_types and start is not None and end is not None:
            entities.append({
                ENTITY_ATTRIBUTE_TYPE: kind,
                ENTITY_ATTRIBUTE_START: start,
                ENTITY_ATTRIBUTE_END: end,
                ENTITY_ATTRIBUTE_VALUE: value,
                "confidence_entity": 1.0,
            })

    ticket = find_ticket_no(text)
    if ticket:
        add("ticket_no", ticket.start, ticket.end, ticket.value)
    phone = extract_phone(text)
    if phone.ok:
        add("phone", phone.start, phone.end, phone.phone or "")
    for district in places.find_districts(text):
        add("district", district.start, district.end, district.name)
    street = places.find_street(text)
    if street:
        add("street", street.start, street.end, street.street)
    return sorted(entities, key=lambda e: e[ENTITY_ATTRIBUTE_START])


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class HotlineEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Adds `district`, `street`, `phone` and `ticket_no` entities with normalised values."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """`entity_types`: which of district / street / phone / ticket_no to extract."""
        return {"entity_types": list(ENTITY_TYPES)}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._config = {**self.get_default_config(), **(config or {})}
        self.entity_types = tuple(self._config["entity_types"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "HotlineEntityExtractor":
        """Creates the component (nothing to train or load)."""
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        """Appends the entities found in each message's text."""
        for message in messages:
            found = self.add_extractor_name(hotline_entities(message.get(TEXT) or "", self.entity_types))
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data is left as annotated."""
        return training_data
