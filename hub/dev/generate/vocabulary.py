"""The generator's fixed vocabulary: its clock, event constants, MOD paths, and the
built-in lists persons, addresses and housings are drawn from (fictitious persons)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

Event = dict[str, Any]

#: Default end of the generated period (fixed, so that output does not depend on the clock).
DEFAULT_UNTIL = datetime(2026, 11, 1, tzinfo=UTC)

#: Demands are created over the year before ``until`` (a demand lives 12 months).
WINDOW = timedelta(days=365)

VERSION_INTERFACE = "02.01"

SOURCE = "generator"

TYPOLOGIES = ("C", "T1", "T2", "T3", "T4", "T5", "T6P")

# Dotted paths (relative to the snapshot ``demande``) used in MOD events' changedFields.
F_COMMUNES = "demandeLogement.logementRecherche.listeLocalisationSouhaite"

F_TYPOLOGIES = "demandeLogement.logementRecherche.listeTypeLogement"

F_RESSOURCES = "demandeLogement.personnePhysique.demandeur.listeRessourceRecue"

F_TEL = "demandeLogement.personnePhysique.demandeur.telPortable"

F_RADIATION = "demandeLogement.radiation"

PRENOMS_F = (
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Sandrine", "Céline", "Aurélie",
    "Julie", "Émilie", "Camille", "Laura", "Sarah", "Manon", "Léa", "Chloé", "Inès", "Jade",
    "Fatima", "Aïcha", "Nadia", "Samira", "Karima", "Amina", "Mariama", "Awa", "Océane",
    "Mélanie", "Jessica", "Audrey", "Virginie", "Stéphanie", "Christine", "Monique", "Josiane",
    "Jacqueline", "Françoise", "Lina", "Yasmine", "Louise",
)  # fmt: skip

PRENOMS_M = (
    "Jean", "Pierre", "Michel", "Philippe", "Alain", "Patrick", "Nicolas", "Christophe",
    "Stéphane", "Sébastien", "Julien", "Thomas", "Kevin", "Anthony", "Maxime", "Lucas", "Hugo",
    "Nathan", "Enzo", "Mohamed", "Karim", "Rachid", "Mehdi", "Youssef", "Moussa", "Mamadou",
    "Ibrahim", "David", "Laurent", "Frédéric", "Olivier", "Thierry", "Bernard", "Gérard",
    "Didier", "Adam", "Noah", "Théo", "Léo", "Gabriel",
)  # fmt: skip

NOMS = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent",
    "Muller", "Lefèvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier",
    "Chevalier", "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clément",
    "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand",
    "Duval", "Denis", "Lemaire", "Lecomte", "Lemoine", "Leblanc", "Benali", "Traoré", "Diallo",
    "Haddad", "Nguyen", "Da Silva", "Ferreira", "Lebrun", "Leclerc", "Lecoq", "Hébert",
)  # fmt: skip

VOIES = (
    "rue de la République", "rue Victor Hugo", "avenue Jean Jaurès", "rue Pasteur",
    "boulevard Gambetta", "rue Jeanne d'Arc", "rue du Général Leclerc", "place du Marché",
    "rue des Lilas", "allée des Tilleuls", "rue de la Gare", "rue Gustave Flaubert",
    "avenue de Bretagne", "rue Jules Ferry", "rue Paul Éluard", "rue Émile Zola",
    "chemin des Prés", "rue du Moulin", "impasse des Érables", "rue Louis Pasteur",
    "rue Voltaire", "rue des Écoles", "avenue du 8 Mai 1945", "rue Pierre Corneille",
)  # fmt: skip

PROFESSIONS = (
    "Aide-soignant", "Agent d'entretien", "Employé de commerce", "Cariste", "Auxiliaire de vie",
    "Agent de sécurité", "Chauffeur livreur", "Serveur", "Préparateur de commandes",
    "Assistant maternel", "Ouvrier du bâtiment", "Secrétaire", "Agent administratif",
    "Cuisinier", "Technicien de maintenance", "Infirmier", "Vendeur", "Magasinier",
    "Agent de propreté", "Conducteur de bus",
)  # fmt: skip

#: social landlords named as current landlord of mutation applicants in Seine-Maritime
BAILLEURS_76 = (
    "Rouen Habitat", "Quevilly Habitat", "Habitat 76", "Logéal Immobilière", "Logiseine",
    "Immobilière Basse Seine", "Le Foyer Stéphanais", "CDC Habitat", "Logeo Seine", "Alcéane",
)  # fmt: skip

BESOINS_HANDICAP = (
    "Logement accessible en fauteuil", "Douche de plain-pied", "Ascenseur indispensable",
    "Rez-de-chaussée souhaité", "Proximité des transports",
)  # fmt: skip

#: current housing codes and their weights; HLM ~30% (applicants asking for a mutation)
LOGEMENT_ACTUEL = (
    ("HLM", 30), ("LP", 30), ("CPE", 12), ("CP", 8), ("SLHT", 4), ("LTG", 3), ("RS", 3),
    ("POCC", 3), ("RE", 2), ("HOT", 1), ("SH", 1), ("FONC", 1), ("RHVS", 1), ("SQUAT", 0.5),
    ("CAMCAR", 0.5),
)  # fmt: skip

RENTED = frozenset({"HLM", "LP", "RS", "RHVS", "RE", "FONC"})

HOSTED = frozenset({"CPE", "CP", "LTG"})

NO_HOME = frozenset({"SH", "SQUAT", "CAMCAR", "HOT", "SLHT"})
