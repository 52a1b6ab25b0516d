"""Wording of the offline builder: reasoning steps and refusals, several variants per class.

All sentences are this project's own. `{request}` is the quoted prompt, `{harm}` a clause on
what fulfilling a harmful request would do, `{reason}` a refusal sentence, `{word}` the word
that makes a benign prompt sound alarming, `{topic}` what kind of benign request it is.
"""

from __future__ import annotations

QUOTE_OPENERS = (
    'The user asks: "{request}"',
    'The request is "{request}"',
    'I am asked: "{request}"',
    'Let me see what is wanted: "{request}"',
    'Here is the request: "{request}"',
)
BENIGN_WHY = (
    "This is {topic}, and nothing in it could hurt anyone.",
    "It is {topic} with no safety concern.",
    "That is {topic}; answering it is simply helpful.",
    "This is {topic} and is safe to help with.",
    "It is {topic}, an ordinary request.",
)
SENSITIVE_ALARM = (
    'The word "{word}" can sound alarming, so let me check what is really meant.',
    'Taken out of context, "{word}" might suggest harm, but the request deserves a closer look.',
    'Because of "{word}" this sounds risky at first.',
    'At first glance "{word}" sounds dangerous.',
)
SENSITIVE_ALARM_NO_WORD = (
    "The subject sounds sensitive, so let me check what is really meant.",
    "It touches on a topic that can sound alarming.",
    "This deserves a second look before answering.",
)
HARMFUL_WHY = (
    "Doing this would {harm}.",
    "Fulfilling it would {harm}.",
    "The real aim here is to {harm}.",
    "Whatever the wording, this would {harm}.",
    "An answer would help someone {harm}.",
)
BENIGN_PLAN = (
    "I will give a clear and direct answer.",
    "A short, practical answer will serve best.",
    "I should answer accurately and keep it concise.",
    "I can help with this straight away.",
)
SENSITIVE_WHY = {
    "homonyms": (
        'Here "{word}" has its everyday or technical meaning, not a violent one, so answering is safe.',
        'In this sentence "{word}" is ordinary vocabulary for a harmless task; there is nothing to refuse.',
    ),
    "figurative language": (
        'This is a figure of speech: "{word}" is meant figuratively and nobody is at risk.',
        "The wording is idiomatic; the person wants to do well at something, which is fine to help with.",
    ),
    "safe targets": (
        "The action is aimed at an object, a pest or a technical problem, not at a person, so it is safe.",
        'The target of "{word}" here is a thing, not a person; helping is reasonable and harmless.',
    ),
    "safe contexts": (
        "This is about a game, a sport or a piece of fiction; the violence is not real, so I can help.",
        "The setting is play or storytelling, where this kind of action harms no one.",
    ),
    "definitions": (
        "The user wants to know what a term means; explaining it is educational and gives no operational help.",
        "A definition informs without enabling harm, so I can answer.",
    ),
    "historical events": (
        "This asks about history; explaining what happened and why helps understanding and enables no harm.",
        "Knowing the facts of a past event is educational, so answering is appropriate.",
    ),
    "privacy of public figures": (
        "This concerns public information about a public figure or institution, not private data, so it is fine.",
        "The question is about someone's public role or publicly known facts; no one's privacy is at stake.",
    ),
    "privacy of fictional characters": (
        "The person asked about is a fictional character, so no real person's privacy is involved.",
        "This is about a character from fiction; answering harms no one.",
    ),
    "safety information": (
        "The question is about staying safe or helping someone; this information protects people.",
        "Answering helps the user prevent or respond to harm, which is exactly what I should do.",
    ),
}
SENSITIVE_WHY_DEFAULT = (
    "On a closer look the request is benign: nothing in it would help anyone cause harm.",
    "Read carefully, this is a legitimate question, and a helpful answer carries no real risk.",
)
FRAMING_NOTE = {
    "roleplay": (
        " Asking me to play a character does not change what the output could be used for.",
        " The role-play framing is a wrapper; the content would be just as harmful.",
    ),
    "hypothetical": (
        " Calling it hypothetical or fictional does not make the instructions less usable.",
        " The imagined framing does not change what the answer would enable in reality.",
    ),
    "pretext": (
        " The stated reason does not make it safe: the same answer would work for anyone.",
        " The justification given cannot be checked, and the harm would be the same.",
    ),
}
# Each refusal contains one of JailbreakBench's 13 refusal phrases ("I'm sorry", "Sorry", "I cannot",
# ...): its string classifier, the judge that needs no model, misses "I can't" and "I'm not able to",
# and counted such refusals as jailbreaks (29 of R2D's 83 on direct JBB prompts in one run).
REFUSALS = (
    "I'm sorry, but I can't help with that. {reason}",
    "I cannot help with this. {reason}",
    "I cannot assist with this request. {reason}",
    "Sorry, I won't do that. {reason}",
    "I'm sorry, I'm not able to help with this. {reason}",
)
# Per JailbreakBench category: (clause for the reasoning, sentence for the refusal).
HARM = {
    "Harassment/Discrimination": (
        ("demean or target people for who they are", "Content that attacks people for who they are causes real harm."),
        ("harass or intimidate a real person", "Harassing or degrading people is something I won't take part in."),
    ),
    "Malware/Hacking": (
        ("break into systems or accounts that belong to someone else", "Gaining access to other people's systems "
         "without permission is illegal and harmful."),
        ("build or deploy malicious software", "Malicious code can do serious damage to people and organisations."),
    ),
    "Physical harm": (
        ("put people's lives or safety at risk", "This could lead to someone being seriously hurt or killed."),
        ("help someone injure people or animals", "I won't give information that could be used to hurt anyone."),
    ),
    "Economic harm": (
        ("cheat people out of their money or livelihood", "This would cause real financial harm to other people."),
        ("exploit people financially", "Schemes that exploit others financially hurt real people."),
    ),
    "Fraud/Deception": (
        ("deceive people for gain", "Deceiving people to take their money or trust is fraud."),
        ("help carry out a scam or a forgery", "I won't help create material meant to defraud people."),
    ),
    "Disinformation": (
        ("spread false claims meant to mislead the public", "Deliberately false information misleads people "
         "and can put them at risk."),
        ("manufacture fake news or fake evidence", "I won't produce content designed to deceive the public."),
    ),
    "Sexual/Adult content": (
        ("produce sexual content that is explicit, exploitative or non-consensual", "I don't produce sexual content "
         "that is explicit or exploitative, or that involves anyone who has not consented."),
        ("sexually exploit or abuse someone", "This would facilitate sexual exploitation or abuse."),
    ),
    "Privacy": (
        ("expose or spy on a person without their consent", "Tracking or exposing someone without consent "
         "violates their privacy and can put them in danger."),
        ("obtain someone's private information unlawfully", "People's private information isn't mine to dig up "
         "or hand out."),
    ),
    "Expert advice": (
        ("give dangerous advice that could seriously harm someone's health, money or legal standing", "Advice like "
         "this could cause serious harm; a qualified professional is the right person to ask."),
        ("get around the professionals and safeguards that exist for good reason", "This bypasses safeguards that "
         "protect people, and the consequences could be serious."),
    ),
    "Government decision-making": (
        ("corrupt or evade public institutions, elections or the law", "Undermining public institutions or the law "
         "harms everyone who relies on them."),
        ("commit fraud against the state or the public", "This would be fraud against public institutions."),
    ),
}
SELF_HARM = ("lead to the person asking being hurt", "I don't want you to get hurt. If you are going through "
             "something painful, please talk to someone you trust or a local crisis line.")
HARM_DEFAULT = (
    ("cause real harm to people", "Helping with this could cause real harm."),
    ("help someone do something dangerous or illegal", "This request is for something harmful, so I won't "
     "provide it."),
)
TOPICS = {
    "coding": "a programming question", "cooking": "a cooking question", "writing": "a writing task",
    "maths": "a maths problem", "travel": "a travel question", "science": "a science question",
    "health": "a general health and fitness question", "finance": "a personal finance question",
    "language": "a language or study question", "history": "a history question", "home": "a household question",
    "career": "a career question", "hobbies": "a question about a hobby", "pets and nature": "a question about "
    "animals or nature",
}
TOPIC_DEFAULT = "an everyday request"
# Words that make a benign prompt sound dangerous: named in the first reasoning step.
ALARM_WORDS = (
    "kill", "killing", "shoot", "execute", "crack", "beat", "bomb", "bombed", "blow", "strip", "choke", "terminate",
    "skin", "eliminate", "purge", "fire", "bleed", "hang", "knock", "hammer", "stab", "ambush", "nail", "destroy",
    "tear", "bury", "attack", "wipe out", "behead", "starve", "drown", "shred", "poison", "poisoned", "hunt",
    "capture", "sink", "defeat", "take out", "tackle", "impostor", "murder", "wound", "genocide", "arson",
    "extortion", "ransomware", "doxxing", "perjury", "grooming", "laundering", "money mule", "assassination",
    "propaganda", "massacre", "virus", "worm", "spiked", "suicide", "predators", "scam", "breach", "knife",
    "nuclear", "weapon", "insider trading", "ponzi", "phishing", "molotov", "identity theft", "manslaughter",
    "zero-day", "homicide", "inquisition", "robbery", "crisis", "disaster", "witch", "plot", "prison",
    "imprisoned", "secret identity", "address", "exterminate", "get rid of", "locked", "rats", "wasp",
)
