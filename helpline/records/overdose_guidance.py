"""What the counselor reads aloud during an overdose: naloxone, rescue breathing, staying
with the person, and the after-care, in plain words (English and Spanish).

Written for this project after the public guidance of SAMHSA's Opioid Overdose Prevention
Toolkit and the CDC's "Stop Overdose" pages (public domain, US government works): check for a
response, call 911, give naloxone, support breathing, stay until help arrives. It is guidance
to read to a bystander, not medical training; helplines should have it reviewed by their
medical lead before use.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = {"en": "English", "es": "Español"}


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    steps: tuple[str, ...]


GUIDANCE: dict[str, tuple[Section, ...]] = {
    "en": (
        Section("check", "Check for a response", (
            "Shout their name. Rub the middle of their chest hard with your knuckles.",
            "Look and listen: are they breathing? Are their lips or fingertips blue or gray? "
            "Are they snoring or gurgling?",
            "If they do not wake up, or their breathing is slow or has stopped, treat it as "
            "an overdose.",
        )),
        Section("naloxone", "Give naloxone (Narcan), if you have it", (
            "Lay them on their back.",
            "Take the nasal spray out of the package. Hold it with your thumb on the plunger "
            "and two fingers on each side of the nozzle.",
            "Tilt their head back. Put the tip of the nozzle in one nostril, until your "
            "fingers touch the bottom of their nose.",
            "Press the plunger firmly, all the way. That gives the whole dose.",
            "If they have not woken up or started breathing normally after 2 to 3 minutes, "
            "give another dose in the other nostril with a new spray.",
        )),
        Section("breathing", "Help them breathe", (
            "Tilt their head back and lift the chin. Check that nothing is in their mouth.",
            "Pinch their nose closed and cover their mouth with yours.",
            "Give one slow breath every 5 seconds. Watch their chest rise.",
            "Keep going until they breathe on their own or help arrives.",
            "If you know CPR and they have no pulse, start chest compressions.",
        )),
        Section("stay", "Stay with them", (
            "When they are breathing, roll them onto their side: top knee bent, a hand under "
            "their head. This keeps the airway open if they vomit.",
            "Stay with them until help arrives. Naloxone wears off in 30 to 90 minutes and "
            "the overdose can come back.",
            "If they wake up, tell them what happened. Keep them from taking more.",
        )),
    ),
    "es": (
        Section("check", "Compruebe si responde", (
            "Llámelo por su nombre en voz alta. Frótele con fuerza el centro del pecho con "
            "los nudillos.",
            "Mire y escuche: ¿respira? ¿Tiene los labios o las puntas de los dedos azules o "
            "grises? ¿Ronca o hace ruidos como gárgaras?",
            "Si no despierta, o respira muy despacio o no respira, trátelo como una "
            "sobredosis.",
        )),
        Section("naloxone", "Dé naloxona (Narcan), si la tiene", (
            "Acuéstelo boca arriba.",
            "Saque el aerosol nasal del paquete. Sosténgalo con el pulgar en el émbolo y dos "
            "dedos a cada lado de la boquilla.",
            "Inclínele la cabeza hacia atrás. Meta la punta de la boquilla en una fosa nasal, "
            "hasta que sus dedos toquen la parte de abajo de la nariz.",
            "Presione el émbolo con firmeza, hasta el fondo. Así se da la dosis completa.",
            "Si no despierta o no respira con normalidad después de 2 o 3 minutos, dé otra "
            "dosis en la otra fosa nasal con un aerosol nuevo.",
        )),
        Section("breathing", "Ayúdelo a respirar", (
            "Inclínele la cabeza hacia atrás y levántele la barbilla. Compruebe que no tenga "
            "nada en la boca.",
            "Tápele la nariz y cubra su boca con la suya.",
            "Dé una respiración lenta cada 5 segundos. Mire que el pecho se levante.",
            "Siga hasta que respire solo o llegue la ayuda.",
            "Si sabe hacer RCP y no tiene pulso, empiece las compresiones en el pecho.",
        )),
        Section("stay", "Quédese con la persona", (
            "Cuando respire, póngalo de lado: la rodilla de arriba doblada y una mano bajo la "
            "cabeza. Así no se ahoga si vomita.",
            "Quédese con la persona hasta que llegue la ayuda. La naloxona deja de hacer "
            "efecto en 30 a 90 minutos y la sobredosis puede volver.",
            "Si despierta, dígale lo que pasó. Evite que consuma más.",
        )),
    ),
}

# After the emergency: what the counselor says before proposing a follow-up.
AFTER_CARE: dict[str, tuple[str, ...]] = {
    "en": (
        "Someone should stay with them for the next few hours: the overdose can come back "
        "when the naloxone wears off.",
        "If they used naloxone, get a new kit. Many pharmacies give it without a "
        "prescription.",
        "Ask whether we may call or text in the next few days to see how they are.",
    ),
    "es": (
        "Alguien debe quedarse con la persona las próximas horas: la sobredosis puede volver "
        "cuando pase el efecto de la naloxona.",
        "Si usaron naloxona, consigan otra. Muchas farmacias la dan sin receta.",
        "Pregunte si podemos llamar o escribir en los próximos días para saber cómo están.",
    ),
}


def guidance(language: str | None) -> tuple[Section, ...]:
    """The read-aloud sections in ``language`` (English when we do not have it)."""
    return GUIDANCE.get(language or "en", GUIDANCE["en"])


def after_care(language: str | None) -> tuple[str, ...]:
    """What to say once the emergency is over, in ``language`` (English when we do not have it)."""
    return AFTER_CARE.get(language or "en", AFTER_CARE["en"])
