"""Function words, for breaking text where a reader or listener hears a phrase boundary:
subtitle lines and cues (English), parts of live speech (the languages it speaks). The lists
are lower case; :func:`bare` puts a word of text in that form."""

from __future__ import annotations

_EDGES = "¿¡\"'«»“”‘’()[]—–-,;:.!?，、。；：！？…"


def bare(word: str) -> str:
    """``word`` as the lists hold it: lower case, without quotes, brackets or punctuation around it."""
    return word.strip().strip(_EDGES).lower()


def _sets(**languages: str) -> dict[str, frozenset[str]]:
    return {language: frozenset(words.split()) for language, words in languages.items()}


OPENERS = _sets(
    en="and but or nor so yet because that which who whom whose when whenever where wherever whether while although "
    "though if unless until since once than whereas as",
    es="y e o u pero sino que porque cuando donde mientras aunque si como pues ni quien quienes cual cuales cuyo cuya",
    fr="et mais ou donc car que qui quand où lorsque puisque si comme parce pendant tandis dont quoique",
    it="e ed ma o oppure che perché quando dove mentre se come sebbene benché cui poiché",
    pt="e mas ou que porque quando onde enquanto embora se como pois quem cujo cuja",
    de="und aber oder denn dass weil wenn als ob während obwohl sondern",
)
"""Words that open a clause (conjunctions, relatives): the best place to cut is before one."""

PREPOSITIONS = _sets(
    en="in on at with without for from to of into onto through after before about over under by down up towards "
    "toward across along around behind beside between against among during within upon beyond like",
    es="en con sin para por de desde hacia sobre entre tras ante contra hasta al del",
    fr="dans avec sans pour par de sur sous vers chez entre après avant jusqu au aux du des",
    it="in con senza per di da su tra fra verso dopo prima al del nel dal sul",
    pt="em com sem para por de desde sobre entre após até ao do da no na pelo pela",
    de="in mit ohne für von zu auf aus bei nach über unter vor zum zur im am",
)
"""Words that open a phrase: the next best place to cut is before one."""

LEANING = _sets(
    en="the a an my your his her its our their this these those some any no every each mr mrs ms dr very not i you "
    "he she we they",
    es="el la los las un una unos unas mi mis tu tus su sus este esta estos estas ese esa esos esas nuestro nuestra "
    "lo le les se me te nos no muy más así tan tanto yo tú él ella ellos ellas usted ustedes",
    fr="le la les l un une des mon ma mes ton ta tes son sa ses ce cet cette ces notre nos votre vos leur leurs ne "
    "se me te nous vous très plus ainsi alors bien tant je tu il elle on ils elles",
    it="il lo la i gli le un uno una mio mia suo sua questo questa quel quella non si mi ti ci molto più così anche "
    "tanto io tu lui lei noi voi loro",
    pt="o a os as um uma uns umas meu minha seu sua este esta esse essa não se me te nos muito mais assim tão tanto "
    "eu tu ele ela eles elas você vocês",
    de="der die das den dem des ein eine einen einem einer mein dein sein ihr unser kein nicht sehr so ich du er sie "
    "es wir",
)
"""Words that lean on the next one (articles, clitics, subject pronouns, negation, the
first word of "así que", "so that"): never the last word before a cut."""
