"""Meeting Guide's meeting types: each code with its English and Spanish name.

From code4recovery/spec ``data/types.json`` at commit 404117ad6059f9b1cf85e57124367c3223afc255
(MIT License; the licence text is shipped with the test data in
tests/helpline/directory/data/meeting_guide/LICENSE). Codes outside this list are kept as given
(the spec allows local types) and shown as the code itself.
"""

from __future__ import annotations

TYPES: dict[str, tuple[str, str]] = {
    '11': ('11th Step Meditation', 'Meditación del Paso 11'),
    '12x12': ('12 Steps & 12 Traditions', '12 Pasos y 12 Tradiciones'),
    'A': ('Secular', 'Secular'),
    'ABSI': ('As Bill Sees It', 'Como lo ve Bill'),
    'AF': ('Afrikaans', 'Afrikáans'),
    'AL': ('Concurrent with Alateen', 'Concurrente con Alateen'),
    'AL-AN': ('Concurrent with Al-Anon', 'Concurrente con Al-Anon'),
    'AM': ('Amharic', 'Amárico'),
    'AR': ('Arabic', 'Árabe'),
    'ASL': ('American Sign Language', 'Lenguaje por señas'),
    'B': ('Big Book', 'Libro Grande'),
    'BA': ('Babysitting Available', 'Guardería disponible'),
    'BE': ('Newcomer', 'Principiantes'),
    'BG': ('Bulgarian', 'Búlgaro'),
    'BI': ('Bisexual', 'Bisexual'),
    'BRK': ('Breakfast', 'Desayuno'),
    'C': ('Closed', 'Cerrada'),
    'CAN': ('Candlelight', 'Luz de una vela'),
    'CF': ('Child-Friendly', 'Niño amigable'),
    'D': ('Discussion', 'Discusión'),
    'DA': ('Danish', 'Danés'),
    'DB': ('Digital Basket', 'Canasta digital'),
    'DD': ('Dual Diagnosis', 'Diagnóstico dual'),
    'DE': ('German', 'Alemán'),
    'DR': ('Daily Reflections', 'Reflexiones Diarias'),
    'EL': ('Greek', 'Griego'),
    'EN': ('English', 'Inglés'),
    'FA': ('Persian', 'Persa'),
    'FI': ('Finnish', 'Finlandés'),
    'FF': ('Fragrance Free', 'Sin fragancia'),
    'FR': ('French', 'Francés'),
    'G': ('Gay', 'Gay'),
    'GR': ('Grapevine', 'La Viña'),
    'H': ('Birthday', 'Cumpleaños'),
    'HE': ('Hebrew', 'Hebreo'),
    'HI': ('Hindi', 'Hindi'),
    'HR': ('Croatian', 'Croata'),
    'HU': ('Hungarian', 'Húngaro'),
    'IS': ('Icelandic', 'Islandés'),
    'ITA': ('Italian', 'Italiano'),
    'JA': ('Japanese', 'Japonés'),
    'KA': ('Georgian', 'Georgiano'),
    'KOR': ('Korean', 'Coreano'),
    'L': ('Lesbian', 'Lesbiana'),
    'LGBTQ': ('LGBTQ', 'LGBTQ'),
    'LIT': ('Literature', 'Literatura'),
    'LS': ('Living Sober', 'Viviendo Sobrio'),
    'LT': ('Lithuanian', 'Lituano'),
    'M': ('Men', 'Hombres'),
    'MED': ('Meditation', 'Meditación'),
    'ML': ('Malayalam', 'Malayalam'),
    'MT': ('Maltese', 'Maltés'),
    'N': ('Native American', 'Nativo Americano'),
    'NB': ('Non-Binary', 'No binario'),
    'NDG': ('Indigenous', 'Indígena'),
    'NE': ('Nepali', 'Nepalí'),
    'NL': ('Dutch', 'Holandés'),
    'NO': ('Norwegian', 'Noruego'),
    'O': ('Open', 'Abierta'),
    'OUT': ('Outdoor', 'Al aire libre'),
    'P': ('Professionals', 'Profesionales'),
    'POA': ('Proof of Attendance', 'Prueba de Asistencia'),
    'POC': ('People of Color', 'Gente de color'),
    'POL': ('Polish', 'Polaco'),
    'POR': ('Portuguese', 'Portugués'),
    'PUN': ('Punjabi', 'Punjabi'),
    'RUS': ('Russian', 'Ruso'),
    'S': ('Spanish', 'Español'),
    'SEN': ('Seniors', 'Personas mayores'),
    'SK': ('Slovak', 'Eslovaco'),
    'SL': ('Slovenian', 'Esloveno'),
    'SM': ('Smoking Permitted', 'Se permite fumar'),
    'SP': ('Speaker', 'Orador'),
    'ST': ('Step Study', 'Estudio de pasos'),
    'SV': ('Swedish', 'Sueco'),
    'T': ('Transgender', 'Transgénero'),
    'TC': ('Location Temporarily Closed', 'Ubicación temporalmente cerrada'),
    'TH': ('Thai', 'Tailandés'),
    'TL': ('Tagalog', 'Tagalo'),
    'TR': ('Tradition Study', 'Estudio de tradicion'),
    'TUR': ('Turkish', 'Turco'),
    'UK': ('Ukrainian', 'Ucraniano'),
    'W': ('Women', 'Mujeres'),
    'X': ('Wheelchair Access', 'Acceso en silla de ruedas'),
    'XB': ('Wheelchair-Accessible Bathroom', 'Baño accesible para sillas de ruedas'),
    'XT': ('Cross Talk Permitted', 'Se permite opinar'),
    'Y': ('Young People', 'Gente joven'),
}
# The types that name the language the meeting is held in, as ISO 639-1 codes ("asl" as the
# directory's own vocabulary has it).
LANGUAGE_TYPES: dict[str, str] = {
    "AF": "af", "AM": "am", "AR": "ar", "ASL": "asl", "BG": "bg", "DA": "da", "DE": "de",
    "EL": "el", "EN": "en", "FA": "fa", "FI": "fi", "FR": "fr", "HE": "he", "HI": "hi",
    "HR": "hr", "HU": "hu", "IS": "is", "ITA": "it", "JA": "ja", "KA": "ka", "KOR": "ko",
    "LT": "lt", "ML": "ml", "MT": "mt", "NE": "ne", "NL": "nl", "NO": "no", "POL": "pl",
    "POR": "pt", "PUN": "pa", "RUS": "ru", "S": "es", "SK": "sk", "SL": "sl", "SV": "sv",
    "TH": "th", "TL": "tl", "TUR": "tr", "UK": "uk",
}
TEMPORARILY_CLOSED = "TC"


def type_name(code: str, language: str = "en") -> str:
    """The name of a type in English or Spanish; an unknown (local) code as it is."""
    names = TYPES.get(code)
    if names is None:
        return code
    return names[1] if language == "es" else names[0]


def meeting_language(types: list[str]) -> str:
    """The language a meeting is held in: the one language type, or of several the first that
    is not English (a meeting also held in English is notable for the other); English when the
    types name none."""
    languages = [LANGUAGE_TYPES[t] for t in types if t in LANGUAGE_TYPES]
    others = [code for code in languages if code != "en"]
    return others[0] if others else "en"
