"""The built-in demo datasets `demo-en` and `demo-de`: a small, synthetic, parallel
English/German voice-assistant corpus for joint intent classification and BIO slot
tagging.

What the data is:
    Eight intents (PlayMusic, AddToPlaylist, GetWeather, SetAlarm, SetReminder,
    SendMessage, BookRestaurant, RateBook) and fourteen slot types (SongName,
    ArtistName, PlaylistName, City, Date, Time, Task, ContactName, Message,
    RestaurantName, Cuisine, PartySize, BookName, Rating). Each language has 600
    train, 100 valid and 100 test utterances, one JSON object per line::

        {"id": "0001", "tokens": ["play", "High", "Hopes", "by", ...],
         "tags": ["O", "B-SongName", "I-SongName", "O", ...], "intent": "PlayMusic"}

    The two languages are parallel: the same `id` in `demo-en` and `demo-de` is
    the same request, with the same intent and the same slot types. Names of
    songs, artists, playlists, restaurants and people stay as they are; cities and
    books take their German names where they have one; dates, times, tasks,
    messages, cuisines and numbers are translated.

How it was made:
    Entirely synthetic. Every utterance is a hand-written carrier template
    (`play {SongName} by {ArtistName}` / `Spiele {SongName} von {ArtistName}`)
    filled with hand-written slot values, drawn with `random.Random(seed)` from
    the standard library, so the output is the same on every machine. Tokens are
    `text.split()`: punctuation stays attached to words as people type it.

    Valid and test are not copies of train. About 22 % of the values of every slot
    type, and one or two carrier templates of every intent, are held out of train
    and appear only in valid and test. A valid/test utterance uses a held-out
    template with probability 0.15 and a held-out value for each slot with
    probability 0.15; the held-out templates recombine phrasings that train
    teaches. No (tokens, intent) pair occurs twice in a language. A small
    word + char-CNN BiLSTM reaches about 1.00 intent accuracy and 0.88-0.95 slot
    F1 on valid and test; seen templates with seen values are near 1.0, held-out
    values and templates are what it gets wrong.

    The shipped files under `builtin/` are exactly what `write_all()` writes with
    seed 0; `python -m slukit.data.demo` regenerates them (and `builtin/README.md`),
    and the tests check that they have not drifted.

Example:
    >>> splits = generate("de")
    >>> [len(splits[s]) for s in SPLITS]
    [600, 100, 100]
    >>> builtin_path("demo-en", "train").name
    'train.jsonl'
"""

import argparse
import collections
import json
import pathlib
import random
import re

from slukit.errors import DataError
from slukit.data.sources import BUILTIN_ROOT, builtin_path  # noqa: F401  (builtin_path: its old import path)
from slukit.registry import BUILTIN_DATASETS, SPLITS
LANGUAGES = ("en", "de")
SPLIT_SIZES = {"train": 600, "valid": 100, "test": 100}


HOLDOUT_VALUE_SHARE = 0.22   # share of each slot type's values seen only in valid/test
P_HELDOUT_TEMPLATE = 0.15    # chance that a valid/test utterance uses a held-out template
P_HELDOUT_VALUE = 0.15       # chance that a valid/test slot takes a held-out value
_MAX_TRIES = 2000


# ------------------------------------------------------------------ slot values
# A value is a string (the same in both languages) or (english, german[, german
# zu-infinitive]). Templates pick a German form with `{Slot:form}`.

_SONGS = [  # (SongName, ArtistName): "play {SongName} by {ArtistName}" keeps them together
    ("High Hopes", "Panic! at the Disco"),
    ("Bohemian Rhapsody", "Queen"),
    ("Don't Stop Me Now", "Queen"),
    ("Shape of You", "Ed Sheeran"),
    ("Perfect", "Ed Sheeran"),
    ("Blinding Lights", "The Weeknd"),
    ("Rolling in the Deep", "Adele"),
    ("Someone Like You", "Adele"),
    ("Hey Jude", "The Beatles"),
    ("Let It Be", "The Beatles"),
    ("Smells Like Teen Spirit", "Nirvana"),
    ("Mr. Brightside", "The Killers"),
    ("Atemlos durch die Nacht", "Helene Fischer"),
    ("99 Luftballons", "Nena"),
    ("Major Tom", "Peter Schilling"),
    ("Bad Guy", "Billie Eilish"),
    ("Hallelujah", "Leonard Cohen"),
    ("Wonderwall", "Oasis"),
    ("Viva la Vida", "Coldplay"),
    ("Yellow", "Coldplay"),
    ("Imagine", "John Lennon"),
    ("Dancing Queen", "ABBA"),
    ("Take On Me", "a-ha"),
    ("Africa", "Toto"),
    ("Lose Yourself", "Eminem"),
    ("Halo", "Beyoncé"),
    ("Levitating", "Dua Lipa"),
    ("Thriller", "Michael Jackson"),
    ("Purple Rain", "Prince"),
    ("Tage wie diese", "Die Toten Hosen"),
    ("Auf uns", "Andreas Bourani"),
    ("Du hast", "Rammstein"),
    ("Männer", "Herbert Grönemeyer"),
    ("Sweet Child O' Mine", "Guns N' Roses"),
    ("Hotel California", "Eagles"),
    ("Uptown Funk", "Bruno Mars"),
    ("Chandelier", "Sia"),
    ("Zombie", "The Cranberries"),
    ("Das Model", "Kraftwerk"),
    ("Schrei nach Liebe", "Die Ärzte"),
    ("Shake It Off", "Taylor Swift"),
    ("Get Lucky", "Daft Punk"),
    ("Chöre", "Mark Forster"),
    ("Dreams", "Fleetwood Mac"),
    ("Wish You Were Here", "Pink Floyd"),
    ("Creep", "Radiohead"),
    ("Bad Romance", "Lady Gaga"),
    ("Lemon Tree", "Fool's Garden"),
    ("Ein Kompliment", "Sportfreunde Stiller"),
    ("Musik sein", "Wincent Weiss"),
    ("Flowers", "Miley Cyrus"),
    ("As It Was", "Harry Styles"),
    ("Mrs. Robinson", "Simon & Garfunkel"),
    ("Rehab", "Amy Winehouse"),
    ("Hello", "Lionel Richie"),
    ("Feeling Good", "Nina Simone"),
    ("Seven Nation Army", "The White Stripes"),
    ("Cheap Thrills", "Sia"),
    ("Nur ein Wort", "Wir sind Helden"),
    ("Haus am See", "Peter Fox"),
    ("Symphonie", "Silbermond"),
    ("Bella Ciao", "Goran Bregović"),
    ("Stayin' Alive", "Bee Gees"),
    ("Waterloo", "ABBA"),
    ("Sonnentanz", "Klangkarussell"),
    ("Skandal im Sperrbezirk", "Spider Murphy Gang"),
]

_MORE_ARTISTS = [
    "Ludwig van Beethoven", "Wolfgang Amadeus Mozart", "Kygo", "Robin Schulz", "Tame Impala",
    "Bon Iver", "Norah Jones", "Miles Davis", "Deichkind", "Seeed",
    "Florence + the Machine", "Red Hot Chili Peppers", "Arctic Monkeys", "Udo Lindenberg",
    "Nina Chuba", "Apache 207", "Olivia Rodrigo", "Ella Fitzgerald", "Johnny Cash",
    "Marteria", "Kings of Leon", "Bob Marley",
]

_VALUES = {
    "PlaylistName": [
        "Chill Vibes", "Road Trip", "Workout Mix", "Sunday Morning", "Party Hits", "Deep Focus",
        "Rock Classics", "Kuschelrock", "Feierabend", "Gute Laune", "Dinner Jazz", "Indie Mix",
        "Lieblingssongs", "Throwback Thursday", "Sommerhits 2023", "Beast Mode", "Rainy Days",
        "Oldies but Goldies", "Coding Beats", "80s Hits", "Autofahrt", "Deutschrap",
        "Morning Coffee", "Lazy Sunday", "Festival Feeling", "Acoustic Covers", "Yoga Flow",
        "Neue Musik", "Hochzeit", "Sad Songs", "Late Night Drive", "Jogging",
    ],
    "City": [
        "Berlin", "Hamburg", ("Munich", "München"), ("Cologne", "Köln"), "Frankfurt", "Stuttgart",
        "Düsseldorf", "Leipzig", "Dresden", "Bremen", ("Hanover", "Hannover"),
        ("Nuremberg", "Nürnberg"), "Freiburg", "Salzburg", ("Vienna", "Wien"),
        ("Zurich", "Zürich"), ("Rome", "Rom"), "Paris", "London", ("Lisbon", "Lissabon"),
        ("Prague", "Prag"), ("Copenhagen", "Kopenhagen"), ("Brussels", "Brüssel"),
        ("Warsaw", "Warschau"), "Barcelona", "Amsterdam", "New York", "San Francisco",
        "Los Angeles", "Las Vegas", ("Tokyo", "Tokio"), ("Cape Town", "Kapstadt"),
        "Rio de Janeiro", "Buenos Aires", ("Mexico City", "Mexiko-Stadt"), "Bonn", "Kiel",
        "Münster", "Heidelberg", "Graz", "Innsbruck", "Basel", ("Geneva", "Genf"),
        ("Milan", "Mailand"), ("Venice", "Venedig"), ("Athens", "Athen"), "Madrid", "Oslo",
        ("Moscow", "Moskau"), "Chicago", "Sydney", "Frankfurt am Main", "Bad Homburg",
    ],
    "Date": [  # adverbials: the templates put no preposition before a Date
        ("today", "heute"), ("tomorrow", "morgen"), ("the day after tomorrow", "übermorgen"),
        ("tonight", "heute Abend"), ("this afternoon", "heute Nachmittag"),
        ("tomorrow morning", "morgen früh"), ("tomorrow evening", "morgen Abend"),
        ("this weekend", "am Wochenende"), ("next week", "nächste Woche"),
        ("on Monday", "am Montag"), ("on Tuesday", "am Dienstag"),
        ("on Wednesday", "am Mittwoch"), ("on Thursday", "am Donnerstag"),
        ("on Friday", "am Freitag"), ("on Saturday", "am Samstag"), ("on Sunday", "am Sonntag"),
        ("next Monday", "nächsten Montag"), ("next Friday", "nächsten Freitag"),
        ("on Saturday morning", "am Samstagmorgen"),
        ("on Sunday afternoon", "am Sonntagnachmittag"),
        ("on May 1st", "am 1. Mai"), ("on June 3rd", "am 3. Juni"),
        ("on December 24th", "am 24. Dezember"), ("on New Year's Eve", "an Silvester"),
        ("in two days", "in zwei Tagen"), ("in three days", "in drei Tagen"),
        ("next Saturday", "nächsten Samstag"), ("next weekend", "nächstes Wochenende"),
        ("tomorrow afternoon", "morgen Nachmittag"), ("on Friday evening", "am Freitagabend"),
        ("on March 15th", "am 15. März"), ("on October 3rd", "am 3. Oktober"),
        ("in a week", "in einer Woche"), ("on Easter Sunday", "am Ostersonntag"),
    ],
    "Time": [  # the templates put "at" / "um" (or "for" / "für") before a Time
        ("7 am", "7 Uhr"), ("5 am", "5 Uhr"), ("11 am", "11 Uhr"), ("1 pm", "13 Uhr"),
        ("6 pm", "18 Uhr"), ("8 pm", "20 Uhr"), ("10 pm", "22 Uhr"), ("6:30 am", "6:30 Uhr"),
        ("5:45 am", "5:45 Uhr"), ("7:15", "7:15 Uhr"), ("8:00", "8:00 Uhr"),
        ("7:30 pm", "19:30 Uhr"), ("9:45 pm", "21:45 Uhr"), ("half past seven", "halb acht"),
        ("half past six", "halb sieben"), ("quarter to nine", "Viertel vor neun"),
        ("quarter past six", "Viertel nach sechs"), ("noon", "zwölf Uhr mittags"),
        ("midnight", "Mitternacht"), ("nine o'clock", "neun Uhr"),
        ("six in the morning", "sechs Uhr morgens"), ("eight in the evening", "acht Uhr abends"),
        ("seven thirty", "sieben Uhr dreißig"), ("9 am", "9 Uhr"), ("4 pm", "16 Uhr"),
        ("6:15 am", "6:15 Uhr"), ("12:30 pm", "12:30 Uhr"),
        ("quarter past eight", "Viertel nach acht"),
        ("half past five", "halb sechs"), ("ten in the evening", "zehn Uhr abends"),
    ],
    "Task": [  # (english, german infinitive, german zu-infinitive)
        ("buy milk", "Milch kaufen", "Milch zu kaufen"),
        ("call the dentist", "den Zahnarzt anrufen", "den Zahnarzt anzurufen"),
        ("pick up the kids", "die Kinder abholen", "die Kinder abzuholen"),
        ("water the plants", "die Pflanzen gießen", "die Pflanzen zu gießen"),
        ("take out the trash", "den Müll rausbringen", "den Müll rauszubringen"),
        ("pay the rent", "die Miete bezahlen", "die Miete zu bezahlen"),
        ("book the flights", "die Flüge buchen", "die Flüge zu buchen"),
        ("take my medicine", "meine Tabletten nehmen", "meine Tabletten zu nehmen"),
        ("feed the cat", "die Katze füttern", "die Katze zu füttern"),
        ("send the report", "den Bericht abschicken", "den Bericht abzuschicken"),
        ("charge my phone", "mein Handy aufladen", "mein Handy aufzuladen"),
        ("call Grandma", "Oma anrufen", "Oma anzurufen"),
        ("buy a present for Lisa", "ein Geschenk für Lisa kaufen",
         "ein Geschenk für Lisa zu kaufen"),
        ("return the library books", "die Bücher in die Bibliothek zurückbringen",
         "die Bücher in die Bibliothek zurückzubringen"),
        ("go to the gym", "ins Fitnessstudio gehen", "ins Fitnessstudio zu gehen"),
        ("cancel the newspaper subscription", "das Zeitungsabo kündigen",
         "das Zeitungsabo zu kündigen"),
        ("empty the mailbox", "den Briefkasten leeren", "den Briefkasten zu leeren"),
        ("renew my passport", "meinen Pass verlängern", "meinen Pass zu verlängern"),
        ("defrost the freezer", "den Gefrierschrank abtauen", "den Gefrierschrank abzutauen"),
        ("bring an umbrella", "einen Regenschirm mitnehmen", "einen Regenschirm mitzunehmen"),
        ("clean the bathroom", "das Bad putzen", "das Bad zu putzen"),
        ("order the birthday cake", "die Geburtstagstorte bestellen",
         "die Geburtstagstorte zu bestellen"),
        ("buy concert tickets", "Konzertkarten kaufen", "Konzertkarten zu kaufen"),
        ("call the landlord", "den Vermieter anrufen", "den Vermieter anzurufen"),
        ("walk the dog", "mit dem Hund rausgehen", "mit dem Hund rauszugehen"),
        ("do the laundry", "die Wäsche waschen", "die Wäsche zu waschen"),
        ("file my taxes", "die Steuererklärung machen", "die Steuererklärung zu machen"),
        ("pick up the dry cleaning", "die Reinigung abholen", "die Reinigung abzuholen"),
        ("lock the back door", "die Hintertür abschließen", "die Hintertür abzuschließen"),
        ("book a doctor's appointment", "einen Arzttermin ausmachen",
         "einen Arzttermin auszumachen"),
    ],
    "ContactName": [
        "Anna", "Max", "Lukas", "Sophie", ("Mom", "Mama"), ("Dad", "Papa"), ("Grandma", "Oma"),
        "Tom Becker", "Julia Schmidt", "Jonas", "Leonie", "Mia", "Paul", "Emma", "Ben", "Tim",
        "Laura Meyer", "Jürgen", "Sören", "Özlem", "Mehmet", "Chris", "Katharina",
        "Felix Müller", "Hannah", "Noah", "Marie", "Elias", "Lea Hoffmann", "David", "Sarah",
        "Niklas Weber", "Ayşe", "Frau Schulz", "Herr Köhler", "Jana", "Moritz", "Zoe",
    ],
    "Message": [  # German messages start lower-case; `{Message!}` capitalises after a colon
        ("I'm running late", "ich komme später"),
        ("see you at eight", "wir sehen uns um acht"),
        ("I'll be home soon", "ich bin bald zu Hause"),
        ("don't forget the keys", "vergiss die Schlüssel nicht"),
        ("happy birthday!", "alles Gute zum Geburtstag!"),
        ("call me back when you can", "ruf mich zurück, wenn du kannst"),
        ("dinner is ready", "das Essen ist fertig"),
        ("I'm stuck in traffic", "ich stehe im Stau"),
        ("can you pick up some bread?", "kannst du Brot mitbringen?"),
        ("the meeting has been moved to Monday", "das Meeting ist auf Montag verschoben"),
        ("thanks for yesterday", "danke für gestern"),
        ("I love you", "ich hab dich lieb"),
        ("good luck today", "viel Glück heute"),
        ("where are you?", "wo bist du?"),
        ("let's get coffee tomorrow", "lass uns morgen Kaffee trinken"),
        ("I'm on my way", "ich bin unterwegs"),
        ("the train is delayed", "der Zug hat Verspätung"),
        ("don't wait for me", "warte nicht auf mich"),
        ("I'll call you later", "ich rufe dich später an"),
        ("we need milk", "wir brauchen Milch"),
        ("the kids are asleep", "die Kinder schlafen schon"),
        ("I found your wallet", "ich habe deinen Geldbeutel gefunden"),
        ("are we still on for tonight?", "bleibt es bei heute Abend?"),
        ("I'm at the station", "ich bin am Bahnhof"),
        ("the door is open", "die Tür ist offen"),
        ("please bring wine", "bring bitte Wein mit"),
        ("I got the job!", "ich habe den Job!"),
        ("the package has arrived", "das Paket ist angekommen"),
        ("I miss you", "ich vermisse dich"),
        ("we're out of coffee", "der Kaffee ist alle"),
    ],
    "RestaurantName": [
        "Luigi's", "The Golden Dragon", "Sakura", "Café Central", "Zum Goldenen Hirschen",
        "La Piazza", "Blue Elephant", "Taj Mahal", "Le Petit Bistro", "The Olive Tree",
        "Casa Mia", "Noodle House", "Osteria Roma", "Bella Napoli", "Pho Saigon", "El Toro",
        "Kimchi Garden", "Burger Brothers", "Zur Linde", "Brauhaus am Markt", "Little Tokyo",
        "Alter Fritz", "Trattoria da Mario", "Der Grieche", "Curry Palace", "Seoul Kitchen",
        "Bistro Lumière", "Zum Schwarzen Adler", "Green Garden", "Sushi Bar Yuki",
        "The Red Lion", "Alpenstube",
    ],
    "Cuisine": [  # German base form; `{Cuisine:es}` -> "italienisches", `{Cuisine:en}` -> "...en"
        ("Italian", "italienisch"), ("Chinese", "chinesisch"), ("Japanese", "japanisch"),
        ("Indian", "indisch"), ("Thai", "thailändisch"), ("Mexican", "mexikanisch"),
        ("Greek", "griechisch"), ("French", "französisch"), ("Vietnamese", "vietnamesisch"),
        ("Turkish", "türkisch"), ("Spanish", "spanisch"), ("Korean", "koreanisch"),
        ("Lebanese", "libanesisch"), ("vegan", "vegan"), ("vegetarian", "vegetarisch"),
        ("Ethiopian", "äthiopisch"), ("Persian", "persisch"), ("Portuguese", "portugiesisch"),
        ("Bavarian", "bayerisch"), ("Austrian", "österreichisch"),
        ("Middle Eastern", "orientalisch"), ("South Indian", "südindisch"),
        ("Syrian", "syrisch"), ("Brazilian", "brasilianisch"), ("Russian", "russisch"),
        ("Polish", "polnisch"),
    ],
    "PartySize": [
        ("two", "zwei"), ("three", "drei"), ("four", "vier"), ("five", "fünf"), ("six", "sechs"),
        ("seven", "sieben"), ("eight", "acht"), ("twelve", "zwölf"), "2", "3", "4", "5", "6",
        "10",
    ],
    "BookName": [
        ("The Hobbit", "Der Hobbit"), ("The Lord of the Rings", "Der Herr der Ringe"),
        ("The Name of the Wind", "Der Name des Windes"),
        ("Pride and Prejudice", "Stolz und Vorurteil"), ("The Little Prince", "Der kleine Prinz"),
        ("War and Peace", "Krieg und Frieden"), "Dune", "1984",
        ("The Great Gatsby", "Der große Gatsby"),
        ("The Neverending Story", "Die unendliche Geschichte"), "Momo",
        ("The Reader", "Der Vorleser"), ("Perfume", "Das Parfum"),
        ("The Magic Mountain", "Der Zauberberg"), "Steppenwolf", "Siddhartha",
        ("The Trial", "Der Prozess"), ("The Metamorphosis", "Die Verwandlung"), "Faust",
        ("Harry Potter and the Goblet of Fire", "Harry Potter und der Feuerkelch"),
        ("The Hunger Games", "Die Tribute von Panem"), ("Brave New World", "Schöne neue Welt"),
        ("The Catcher in the Rye", "Der Fänger im Roggen"), "Moby Dick",
        ("The Alchemist", "Der Alchimist"), "Sapiens",
        ("The Shadow of the Wind", "Der Schatten des Windes"), "Effi Briest",
        ("The Tin Drum", "Die Blechtrommel"),
        ("All Quiet on the Western Front", "Im Westen nichts Neues"),
        ("The Da Vinci Code", "Sakrileg"), ("Animal Farm", "Farm der Tiere"),
        ("The Kite Runner", "Drachenläufer"), ("Crime and Punishment", "Schuld und Sühne"),
        ("The Old Man and the Sea", "Der alte Mann und das Meer"), "Tschick",
        "Emil und die Detektive",
        ("Jane Eyre", "Jane Eyre"), ("Frankenstein", "Frankenstein"),
        ("The Girl with the Dragon Tattoo", "Verblendung"),
    ],
    "Rating": [
        ("five", "fünf"), ("four", "vier"), ("three", "drei"), ("two", "zwei"), "5", "4", "3",
        "2", ("4.5", "4,5"), ("three and a half", "dreieinhalb"),
        ("four and a half", "viereinhalb"),
    ],
}


def _artists():
    names = []
    for _, artist in _SONGS:
        if artist not in names:
            names.append(artist)
    return names + _MORE_ARTISTS


_VALUES["SongName"] = [song for song, _ in _SONGS]
_VALUES["ArtistName"] = _artists()

SLOT_TYPES = (
    "SongName", "ArtistName", "PlaylistName", "City", "Date", "Time", "Task", "ContactName",
    "Message", "RestaurantName", "Cuisine", "PartySize", "BookName", "Rating",
)


# ------------------------------------------------------------------- templates
# T(english, german, held_out). `{Slot}` is a slot, `{Slot:form}` picks a German form,
# `{Slot!}` capitalises its first letter; punctuation around a placeholder sticks to the
# slot's first or last token. English "a" before a slot becomes "an" before a vowel.

_T = collections.namedtuple("_T", "en de held_out", defaults=(False,))

_TEMPLATES = {
    "PlayMusic": [
        _T("play {SongName} by {ArtistName}", "Spiele {SongName} von {ArtistName}"),
        _T("Play music by {ArtistName}", "Spiel Musik von {ArtistName}"),
        _T("I want to hear {SongName}", "Ich will {SongName} hören"),
        _T("put on {SongName} by {ArtistName} please", "Leg bitte {SongName} von {ArtistName} auf"),
        _T("play my {PlaylistName} playlist", "Spiel meine Playlist {PlaylistName}"),
        _T("can you play something by {ArtistName}", "Kannst du etwas von {ArtistName} spielen?"),
        _T("I want to hear {SongName} by {ArtistName}",
           "Ich will {SongName} von {ArtistName} hören", True),
        _T("can you play {SongName}", "Kannst du {SongName} spielen?", True),
    ],
    "AddToPlaylist": [
        _T("add {SongName} to my {PlaylistName} playlist",
           "Füge {SongName} zu meiner Playlist {PlaylistName} hinzu"),
        _T("put {SongName} by {ArtistName} on {PlaylistName}",
           "Pack {SongName} von {ArtistName} auf {PlaylistName}"),
        _T("Add this song to {PlaylistName}", "Füg diesen Song zu {PlaylistName} hinzu"),
        _T("save {SongName} to my {PlaylistName} playlist",
           "Speichere {SongName} in meiner Playlist {PlaylistName}"),
        _T("add some songs by {ArtistName} to {PlaylistName}",
           "Füge ein paar Songs von {ArtistName} zu {PlaylistName} hinzu"),
        _T("can you add {SongName} by {ArtistName} to the {PlaylistName} playlist",
           "Kannst du {SongName} von {ArtistName} zur Playlist {PlaylistName} hinzufügen?"),
        _T("add {SongName} by {ArtistName} to my {PlaylistName} playlist",
           "Füge {SongName} von {ArtistName} zu meiner Playlist {PlaylistName} hinzu", True),
        _T("can you add something by {ArtistName} to the {PlaylistName} playlist",
           "Kannst du etwas von {ArtistName} zur Playlist {PlaylistName} hinzufügen?", True),
    ],
    "GetWeather": [
        _T("what's the weather {Date} in {City}", "Wie wird das Wetter {Date} in {City}"),
        _T("will it rain in {City} {Date}", "Regnet es {Date} in {City}"),
        _T("Weather forecast for {City}", "Wettervorhersage für {City}"),
        _T("do I need an umbrella {Date}", "Brauche ich {Date} einen Regenschirm?"),
        _T("how warm will it be in {City} {Date}", "Wie warm wird es {Date} in {City}"),
        _T("What's the weather like in {City}?", "Wie ist das Wetter in {City}?"),
        _T("what's the weather in {City} {Date}", "Wie wird das Wetter in {City} {Date}", True),
        _T("do I need an umbrella in {City} {Date}",
           "Brauche ich {Date} in {City} einen Regenschirm?", True),
    ],
    "SetAlarm": [
        _T("set an alarm for {Time}", "Stell einen Wecker für {Time}"),
        _T("wake me up at {Time} {Date}", "Weck mich {Date} um {Time}"),
        _T("I need an alarm at {Time} {Date}", "Ich brauche {Date} einen Wecker um {Time}"),
        _T("alarm for {Time} please", "Wecker auf {Time} stellen, bitte"),
        _T("Please wake me at {Time}", "Bitte weck mich um {Time}"),
        _T("I have to get up at {Time} {Date}", "Ich muss {Date} um {Time} aufstehen"),
        _T("please set an alarm for {Time} {Date}",
           "Bitte stell mir {Date} einen Wecker für {Time}", True),
        _T("I need an alarm for {Time}", "Ich brauche einen Wecker für {Time}", True),
    ],
    "SetReminder": [
        _T("remind me to {Task} {Date}", "Erinnere mich {Date} daran, {Task:zu}"),
        _T("remind me {Date} at {Time} to {Task}",
           "Erinnere mich {Date} um {Time} daran, {Task:zu}"),
        _T("set a reminder to {Task} at {Time}", "Stell eine Erinnerung für {Time}: {Task}"),
        _T("Don't let me forget to {Task}", "Lass mich nicht vergessen, {Task:zu}"),
        _T("please remind me at {Time} to {Task}",
           "Bitte erinnere mich um {Time} daran, {Task:zu}"),
        _T("reminder: {Task} {Date}", "Erinnerung: {Date} {Task}"),
        _T("can you remind me to {Task} at {Time} {Date}",
           "Kannst du mich {Date} um {Time} daran erinnern, {Task:zu}", True),
        _T("remind me at {Time} to {Task}", "Erinnere mich um {Time} daran, {Task:zu}", True),
    ],
    "SendMessage": [
        _T("send a message to {ContactName} saying {Message}",
           "Schick {ContactName} eine Nachricht: {Message!}"),
        _T("text {ContactName} {Message}", "Schreib {ContactName}: {Message!}"),
        _T("tell {ContactName} {Message}", "Sag {ContactName}, {Message}"),
        _T("Message to {ContactName}: {Message}", "Nachricht an {ContactName}: {Message!}"),
        _T("send {ContactName} a text: {Message}", "Sende eine SMS an {ContactName}: {Message!}"),
        _T("send a WhatsApp to {ContactName}: {Message}",
           "Schick eine WhatsApp an {ContactName}: {Message!}"),
        _T("send a text to {ContactName} saying {Message}",
           "Schick eine SMS an {ContactName}: {Message!}", True),
        _T("text {ContactName}: {Message}", "Schreib {ContactName} eine Nachricht: {Message!}",
           True),
    ],
    "BookRestaurant": [
        _T("book a table for {PartySize} at {RestaurantName} {Date} at {Time}",
           "Reserviere {Date} um {Time} einen Tisch für {PartySize} Personen im Restaurant "
           "{RestaurantName}"),
        _T("I need a table for {PartySize} people {Date}",
           "Ich brauche {Date} einen Tisch für {PartySize} Personen"),
        _T("find me a {Cuisine} restaurant in {City}",
           "Finde ein {Cuisine:es} Restaurant in {City}"),
        _T("reserve a table at a {Cuisine} restaurant for {PartySize}",
           "Reservier einen Tisch für {PartySize} in einem {Cuisine:en} Restaurant"),
        _T("we'd like to eat {Cuisine} food {Date}", "Wir wollen {Date} {Cuisine} essen gehen"),
        _T("Book {RestaurantName} for {PartySize} people at {Time}",
           "Buche einen Tisch für {PartySize} Personen um {Time} im Restaurant {RestaurantName}"),
        _T("book a table at {RestaurantName} {Date}",
           "Reserviere {Date} einen Tisch im Restaurant {RestaurantName}", True),
        _T("find a {Cuisine} restaurant in {City} for {PartySize} people at {Time}",
           "Finde ein {Cuisine:es} Restaurant in {City} für {PartySize} Personen um {Time}", True),
    ],
    "RateBook": [
        _T("rate {BookName} {Rating} stars", "Bewerte das Buch {BookName} mit {Rating} Sternen"),
        _T("give {BookName} {Rating} out of 5", "Gib dem Buch {BookName} {Rating} von 5 Punkten"),
        _T("I'd give {BookName} {Rating} stars",
           "Ich würde dem Roman {BookName} {Rating} Sterne geben"),
        _T("rate this book {Rating} stars", "Bewerte dieses Buch mit {Rating} Sternen"),
        _T("{BookName} deserves {Rating} stars", "Das Buch {BookName} verdient {Rating} Sterne"),
        _T("give the current book {Rating} points", "Gib dem aktuellen Buch {Rating} Punkte"),
        _T("rate {BookName} {Rating} out of 5",
           "Bewerte das Buch {BookName} mit {Rating} von 5 Punkten", True),
        _T("give this book {Rating} stars", "Gib diesem Buch {Rating} Sterne", True),
    ],
}

INTENTS = tuple(_TEMPLATES)

_PLACEHOLDER = re.compile(
    r"(?P<pre>[^{}]*)\{(?P<slot>[A-Za-z]+)(?::(?P<form>[a-z]+))?(?P<cap>!)?\}(?P<post>[^{}]*)")
_DERIVED_FORMS = {"es": lambda s: s + "es", "en": lambda s: s + "en"}  # German adjective endings


# -------------------------------------------------------------------- public API


def generate(language: str, seed: int = 0) -> dict:
    """Generate one language of the demo data.

    Args:
        language: `"en"` or `"de"` (`"demo-en"` / `"demo-de"` are accepted too).
        seed: the seed of the `random.Random` that picks held-out values and templates
            and fills the templates. The shipped files use seed 0. The same seed gives
            parallel data in both languages.

    Returns:
        `{"train": [...], "valid": [...], "test": [...]}`, each a list of
        `{"id", "tokens", "tags", "intent"}` dicts in file order.
    """
    language = language[len("demo-"):] if language.startswith("demo-") else language
    if language not in LANGUAGES:
        raise DataError(f"unknown demo language {language!r}; "
                        f"the languages are: {', '.join(LANGUAGES)}")
    return {split: [_example(item, language) for item in items]
            for split, items in _plan(seed).items()}


def sample_utterances(n: int, language: str = "en", seed: int = 0):
    """Yield `n` random utterances in the demo data's style: any amount of data, for benchmarks.

    Each is a `{"id", "tokens", "tags", "intent"}` dict as in the shipped files,
    drawn with `random.Random(seed)` from the train templates and every slot
    value (nothing is held out; repeats are allowed). The word vocabulary stays
    the demo's (about 900 words), however many are drawn.

    Example:
        >>> rows = list(sample_utterances(3, seed=1))
        >>> len(rows), sorted(rows[0])
        (3, ['id', 'intent', 'tags', 'tokens'])
    """
    if language not in LANGUAGES:
        raise DataError(f"unknown demo language {language!r}; "
                        f"the languages are: {', '.join(LANGUAGES)}")
    rng = random.Random(seed)
    nothing_held = {slot: frozenset() for slot in SLOT_TYPES}
    for i in range(n):
        intent = rng.choice(INTENTS)
        template, choice = _draw(rng, intent, nothing_held, train=True)
        yield _example((str(i + 1), intent, template, choice), language)


def write_all(root=None) -> None:
    """Regenerate the shipped files (seed 0): `{root}/demo-{en,de}/{split}.jsonl` and
    `{root}/README.md`. `root` defaults to the package's `builtin/` folder."""
    root = pathlib.Path(root) if root is not None else BUILTIN_ROOT
    datasets = {f"demo-{lang}": generate(lang) for lang in LANGUAGES}
    for name, splits in datasets.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            _write_text(folder / f"{split}.jsonl", dumps_jsonl(splits[split]))
    _write_text(root / "README.md", readme(datasets))


def dumps_jsonl(examples) -> str:
    """The text of a JSON Lines file: one `json.dumps(obj, ensure_ascii=False)` a line."""
    return "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples)


def readme(datasets) -> str:
    """The text of `builtin/README.md`, with counts computed from `datasets`
    (`{"demo-en": {split: examples}, ...}`)."""
    first = datasets[BUILTIN_DATASETS[0]]
    intents = collections.Counter(ex["intent"] for split in SPLITS for ex in first[split])
    slots = collections.Counter(tag[2:] for split in SPLITS for ex in first[split]
                                for tag in ex["tags"] if tag.startswith("B-"))
    lines = [
        "# Built-in demo data: `demo-en` and `demo-de`",
        "",
        "<!-- Generated by `python -m slukit.data.demo` (slukit/data/demo.py); "
        "do not edit by hand. -->",
        "",
        "A small, **synthetic**, parallel English/German voice-assistant dataset for joint",
        "intent classification and BIO slot tagging. It is the default data of slukit's",
        "quickstart and of the English→German transfer examples. Every utterance was made",
        "from hand-written carrier templates and slot values by `slukit/data/demo.py`,",
        "deterministically (seed 0); none of it comes from real users.",
        "",
        "- Format: JSON Lines, one `{\"id\", \"tokens\", \"tags\", \"intent\"}` object per line;",
        "  `tokens` is the utterance split on whitespace, `tags` one BIO tag per token.",
        "- Parallel: the same `id` in `demo-en` and `demo-de` is the same request, with the same",
        "  intent and the same slot types. Names (songs, artists, playlists, restaurants,",
        "  people) stay as they are; dates, times, tasks, messages, cuisines and numbers are",
        "  translated; cities and books take their German names where they have one.",
        f"- Held out: about {round(HOLDOUT_VALUE_SHARE * 100)} % of the values of every slot "
        "type and 1–2 carrier",
        "  templates per intent occur only in valid and test, so those splits measure",
        "  generalisation, not memory. No (tokens, intent) pair repeats within a language.",
        "",
        "## Counts (utterances)",
        "",
        "| dataset | " + " | ".join(SPLITS) + " | total |",
        "|---|" + "---:|" * (len(SPLITS) + 1),
    ]
    for name in BUILTIN_DATASETS:
        counts = [len(datasets[name][split]) for split in SPLITS]
        lines.append(f"| `{name}` | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    lines += ["", f"## Intents ({len(intents)}), utterances per language over all splits", ""]
    lines += [f"- `{intent}`: {intents[intent]}" for intent in INTENTS]
    lines += ["", f"## Slot types ({len(slots)}), slot mentions per language over all splits", ""]
    lines += [f"- `{slot}`: {slots[slot]}" for slot in SLOT_TYPES]
    lines += [
        "",
        "## License",
        "",
        "Written for slukit; distributed under the same license as the slukit package.",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------- internals


def _norm(item):
    """A value as `{"en": ..., "de": ..., "de:zu": ...}`."""
    if isinstance(item, str):
        return {"en": item, "de": item}
    en, de, *forms = item
    value = {"en": en, "de": de}
    if forms:
        value["de:zu"] = forms[0]
    return value


_POOLS = {slot: [_norm(v) for v in _VALUES[slot]] for slot in SLOT_TYPES}
_SONG_ARTIST = [_VALUES["ArtistName"].index(artist) for _, artist in _SONGS]


def _slots_of(template):
    return [m["slot"] for token in template.split() for m in [_PLACEHOLDER.fullmatch(token)] if m]


def _plan(seed):
    """The language-independent plan: `{split: [(id, intent, template, {slot: index})]}`.

    Both languages are rendered from it and checked for duplicates together, so the
    plan (and hence both files) are the same whichever language is asked for.
    """
    rng = random.Random(seed)
    held = _held_out(rng)
    seen = {lang: set() for lang in LANGUAGES}
    plan, next_id = {}, 1
    for split in SPLITS:
        n = SPLIT_SIZES[split]
        intents = [INTENTS[i % len(INTENTS)] for i in range(n)]
        rng.shuffle(intents)
        items = []
        for intent in intents:
            for _ in range(_MAX_TRIES):
                template, choice = _draw(rng, intent, held, split == "train")
                keys = {lang: (intent, tuple(_render(template, choice, lang)[0]))
                        for lang in LANGUAGES}
                if not any(keys[lang] in seen[lang] for lang in LANGUAGES):
                    break
            else:
                raise RuntimeError(f"could not draw a new {intent} utterance for {split}")
            for lang in LANGUAGES:
                seen[lang].add(keys[lang])
            items.append((f"{next_id:04d}", intent, template, choice))
            next_id += 1
        plan[split] = items
    return plan


def _held_out(rng):
    """`{slot: frozenset of value indices}` that only valid and test may use."""
    held = {}
    for slot in SLOT_TYPES:
        order = list(range(len(_POOLS[slot])))
        rng.shuffle(order)
        held[slot] = frozenset(order[:max(1, round(HOLDOUT_VALUE_SHARE * len(order)))])
    return held


def _draw(rng, intent, held, train):
    """Pick a template and slot value indices; train never sees held-out ones."""
    templates = _TEMPLATES[intent]
    use_held = not train and rng.random() < P_HELDOUT_TEMPLATE
    template = rng.choice([t for t in templates if t.held_out == use_held])
    slots = _slots_of(template.en)
    choice = {}
    if "SongName" in slots and "ArtistName" in slots:  # keep real song/artist pairs
        new = not train and rng.random() < P_HELDOUT_VALUE
        songs = [i for i, a in enumerate(_SONG_ARTIST)
                 if (i in held["SongName"] or a in held["ArtistName"]) == new]
        song = rng.choice(songs)
        choice = {"SongName": song, "ArtistName": _SONG_ARTIST[song]}
    for slot in slots:
        if slot in choice:
            continue
        new = not train and rng.random() < P_HELDOUT_VALUE
        choice[slot] = rng.choice([i for i in range(len(_POOLS[slot]))
                                   if (i in held[slot]) == new])
    return template, choice


def _example(item, language):
    id_, intent, template, choice = item
    tokens, tags = _render(template, choice, language)
    return {"id": id_, "tokens": tokens, "tags": tags, "intent": intent}


def _render(template, choice, language):
    """Fill `template` (a `_T`) in `language`: `(tokens, tags)`."""
    tokens, tags = [], []
    for raw in getattr(template, language).split():
        m = _PLACEHOLDER.fullmatch(raw)
        if m is None:
            tokens.append(raw)
            tags.append("O")
            continue
        slot = m["slot"]
        text = _form(_POOLS[slot][choice[slot]], language, m["form"])
        if m["cap"]:
            text = text[0].upper() + text[1:]
        words = text.split()
        words[0] = m["pre"] + words[0]
        words[-1] = words[-1] + m["post"]
        tokens += words
        tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(words) - 1)
    if language == "en":  # "a" -> "an" before a slot value that starts with a vowel
        for i in range(len(tokens) - 1):
            if tokens[i] in ("a", "A") and tags[i + 1].startswith("B-") \
                    and tokens[i + 1][0] in "AEIOUaeiou":
                tokens[i] += "n"
    return tokens, tags


def _form(value, language, form):
    if form is None or language != "de":
        return value[language]
    if f"de:{form}" in value:
        return value[f"de:{form}"]
    return _DERIVED_FORMS[form](value["de"])


def _check_tables():
    """Problems with the hand-written tables (run by the tests)."""
    problems = []
    for slot in SLOT_TYPES:
        for lang in LANGUAGES:
            texts = [v[lang] for v in _POOLS[slot]]
            dups = sorted({t for t in texts if texts.count(t) > 1})
            if dups:
                problems.append(f"{slot}: duplicate {lang} values {dups}")
    used = set()
    for intent, templates in _TEMPLATES.items():
        if not 5 <= len(templates) <= 10:
            problems.append(f"{intent}: {len(templates)} templates")
        if not 1 <= sum(t.held_out for t in templates) <= 2:
            problems.append(f"{intent}: hold out 1 or 2 templates")
        for t in templates:
            en, de = _slots_of(t.en), _slots_of(t.de)
            used.update(en)
            if sorted(en) != sorted(de) or len(set(en)) != len(en):
                problems.append(f"{intent}: slots differ or repeat in {t.en!r} / {t.de!r}")
            for text in (t.en, t.de):
                for token in text.split():
                    if "{" in token and not _PLACEHOLDER.fullmatch(token):
                        problems.append(f"{intent}: bad placeholder {token!r} in {text!r}")
    if used != set(SLOT_TYPES):
        problems.append(f"slot types unused by templates: {sorted(set(SLOT_TYPES) - used)}")
    return problems


def _write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main(argv=None):
    """`python -m slukit.data.demo [--root DIR] [--check]`."""
    parser = argparse.ArgumentParser(prog="python -m slukit.data.demo",
                                     description="Regenerate the built-in demo datasets.")
    parser.add_argument("--root", default=None,
                        help="write here instead of the package's builtin/ folder")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the shipped files are out of date")
    args = parser.parse_args(argv)
    if args.check:
        root = pathlib.Path(args.root) if args.root else BUILTIN_ROOT
        datasets = {f"demo-{lang}": generate(lang) for lang in LANGUAGES}
        expected = {root / "README.md": readme(datasets)}
        for name, splits in datasets.items():
            for split in SPLITS:
                expected[root / name / f"{split}.jsonl"] = dumps_jsonl(splits[split])
        stale = [str(p) for p, text in expected.items()
                 if not p.is_file() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"out of date: {path}")
        return 1 if stale else 0
    write_all(args.root)
    root = pathlib.Path(args.root) if args.root else BUILTIN_ROOT
    print(f"wrote {', '.join(BUILTIN_DATASETS)} and README.md under {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
