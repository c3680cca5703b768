// Every string the interface shows, in French (default) and English.
// t(key, params) fills {placeholders}; a value may also be a function(params).

const STORAGE_KEY = 'ee.locale';
export const LOCALES = ['fr', 'en'];

const dict = {
  fr: {
    'app.name': 'Effigies Edification',
    'app.loading': 'Chargement…',
    'app.skip': 'Aller au contenu',
    'app.lang_group': 'Langue',
    'app.lang_fr': 'Français',
    'app.lang_en': 'English',
    'app.footer': 'Effigies Edification — des avatars uniques, inventés par un GAN, un seul propriétaire chacun.',
    'app.boot_failed': 'Le service ne répond pas. Vérifiez votre connexion puis rechargez la page.',
    'app.retry': 'Réessayer',

    'nav.label': 'Navigation principale',
    'nav.themes': 'Thèmes',
    'nav.wallet': 'Portefeuille',
    'nav.avatars': 'Mes avatars',
    'nav.login': 'Connexion',
    'nav.signup': 'Créer un compte',
    'nav.logout': 'Déconnexion',
    'nav.hello': 'Bonjour, {name}',
    'nav.balance': 'Solde : {amount}',
    'nav.balance_label': 'Solde du portefeuille : {amount}. Ouvrir le portefeuille',

    'home.title': 'Votre avatar unique, inventé pour vous',
    'home.lead': 'Choisissez un thème, laissez notre réseau de neurones imaginer des avatars, régénérez jusqu’au coup de cœur, puis achetez-le pour {price} : il n’appartient qu’à vous.',
    'home.pedagogy': 'Un GAN, c’est deux réseaux qui s’instruisent mutuellement : un générateur invente des images et un discriminateur apprend à les distinguer des vraies, si bien que chacun fait progresser l’autre — voyez chaque proposition comme une source d’inspiration.',
    'home.steps_title': 'Comment ça marche',
    'home.step1': 'Choisissez un thème.',
    'home.step2': 'Générez et régénérez des propositions.',
    'home.step3': 'Achetez celle qui vous plaît ({price}) : elle devient unique, à vous seul.',
    'home.themes_title': 'Thèmes',
    'home.no_themes': 'Aucun thème n’est encore disponible. Revenez bientôt !',
    'home.sample_alt': 'Exemples d’avatars du thème « {name} »',
    'home.open_theme': 'Créer un avatar « {name} »',
    'home.attribution': 'Données d’entraînement : {text}',

    'theme.status.published': 'Disponible',
    'theme.status.draft': 'En préparation',
    'theme.status.training': 'En entraînement',
    'theme.status.ready': 'Bientôt disponible',
    'theme.status.retired': 'Retiré',
    'theme.back': '← Tous les thèmes',
    'theme.not_available': 'Ce thème ne peut pas générer d’avatars pour le moment.',
    'theme.generate': 'Générer',
    'theme.regenerate': 'Régénérer',
    'theme.generate_hint': 'Chaque génération propose {count} avatars. Régénérer est gratuit ; vous ne payez que celui que vous gardez.',
    'theme.login_to_generate': 'Connectez-vous pour générer des avatars.',
    'theme.price_and_balance': 'Prix : {price} par avatar — votre solde : {balance}',
    'theme.price': 'Prix : {price} par avatar',
    'theme.topup_link': 'Recharger',
    'theme.status.queued': 'En file d’attente…',
    'theme.status.running': 'Génération…',
    'theme.status.done': (p) => p.count === 1 ? '1 proposition prête.' : `${p.count} propositions prêtes.`,
    'theme.status.failed': 'La génération a échoué. Réessayez dans un instant.',
    'theme.status.timeout': 'La génération prend plus de temps que prévu. Réessayez dans un instant.',
    'theme.candidates_title': 'Propositions',
    'theme.candidate_alt': 'Proposition {n} sur {total}',
    'theme.buy': 'Acheter pour {price}',
    'theme.buying': 'Achat…',
    'theme.expires': 'Expire à {time}',
    'theme.expired': 'Expirée',
    'theme.unavailable': 'Indisponible',
    'theme.bought': 'C’est à vous ! Retrouvez-le dans « Mes avatars ».',
    'theme.bought_link': 'Voir mes avatars',
    'theme.bought_alt': 'Votre nouvel avatar',
    'theme.topup_title': 'Rechargez votre portefeuille pour acheter',
    'theme.topup_done': 'Portefeuille rechargé : vous pouvez acheter votre avatar.',

    'wallet.title': 'Portefeuille',
    'wallet.balance': 'Solde',
    'wallet.explain': 'Un avatar coûte {price} ; comme un paiement par carte doit être d’au moins 0,50 €, vous rechargez votre portefeuille par packs, puis chaque achat y est prélevé.',
    'wallet.packs': 'Choisissez un pack',
    'wallet.pack': (p) => `${p.count} avatar${p.count > 1 ? 's' : ''}`,
    'wallet.topup_title': 'Recharger mon portefeuille',
    'wallet.card_label': 'Carte bancaire',
    'wallet.shim.number': 'Numéro de carte',
    'wallet.shim.exp_month': 'Mois d’expiration (MM)',
    'wallet.shim.exp_year': 'Année d’expiration (AA)',
    'wallet.shim.cvc': 'Cryptogramme (CVC)',
    'wallet.shim.postal_code': 'Code postal',
    'wallet.card_hint': 'Paiement sécurisé par Stripe. Nous ne voyons jamais votre numéro de carte.',
    'wallet.pay': 'Payer {amount}',
    'wallet.step.loading': 'Chargement du formulaire de paiement…',
    'wallet.step.ready': 'Saisissez votre carte, puis payez.',
    'wallet.step.setup': 'Préparation du paiement…',
    'wallet.step.confirming': 'Vérification de la carte…',
    'wallet.step.charging': 'Paiement en cours…',
    'wallet.step.succeeded': 'Paiement reçu : {amount} ajoutés à votre portefeuille.',
    'wallet.step.failed': 'Le paiement a échoué : {message}',
    'wallet.step.pending_long': 'Le paiement est toujours en cours de traitement. Votre solde sera mis à jour dès sa confirmation.',
    'wallet.card_error': 'Vérifiez les informations de votre carte.',
    'wallet.stripe_unavailable': 'Le paiement par carte est momentanément indisponible.',
    'wallet.history': 'Historique',
    'wallet.history_empty': 'Aucune opération pour l’instant.',
    'wallet.col_date': 'Date',
    'wallet.col_description': 'Opération',
    'wallet.col_amount': 'Montant',
    'wallet.kind.topup': 'Recharge par carte',
    'wallet.kind.purchase': 'Achat d’un avatar',
    'wallet.kind.adjustment': 'Ajustement',
    'wallet.kind.refund': 'Remboursement',

    'avatars.title': 'Mes avatars',
    'avatars.empty': 'Vous n’avez pas encore d’avatar.',
    'avatars.empty_link': 'Choisir un thème',
    'avatars.alt': 'Avatar {id}',
    'avatars.url_label': 'Adresse publique de l’avatar {id}',
    'avatars.copy': 'Copier',
    'avatars.copied': 'Adresse copiée.',
    'avatars.copy_failed': 'Copie impossible : sélectionnez l’adresse et copiez-la.',
    'avatars.sizes': 'Tailles :',
    'avatars.size_link': '{size} px',
    'avatars.size_label': 'Ouvrir l’avatar {id} en {size} × {size} pixels',
    'avatars.bought_on': 'Acheté le {date}',
    'avatars.theme': 'Thème : {name}',

    'auth.login_title': 'Connexion',
    'auth.signup_title': 'Créer un compte',
    'auth.email': 'Adresse e-mail',
    'auth.password': 'Mot de passe',
    'auth.password_hint': 'Au moins 10 caractères.',
    'auth.display_name': 'Nom affiché',
    'auth.login_submit': 'Se connecter',
    'auth.signup_submit': 'Créer mon compte',
    'auth.no_account': 'Pas encore de compte ?',
    'auth.have_account': 'Déjà un compte ?',
    'auth.required': 'Connectez-vous pour accéder à cette page.',
    'auth.working': 'Un instant…',

    'notfound.title': 'Page introuvable',
    'notfound.back': 'Retour à l’accueil',

    'err.not_authenticated': 'Votre session a expiré : reconnectez-vous.',
    'err.invalid_credentials': 'Adresse e-mail ou mot de passe incorrect.',
    'err.email_taken': 'Un compte utilise déjà cette adresse e-mail. Connectez-vous plutôt.',
    'err.validation_error': 'Certaines informations sont invalides. Vérifiez le formulaire.',
    'err.password_too_short': 'Le mot de passe doit contenir au moins 10 caractères.',
    'err.invalid_email': 'Cette adresse e-mail n’est pas valide.',
    'err.invalid_display_name': 'Indiquez un nom affiché (80 caractères au plus).',
    'err.unavailable': 'Le service est momentanément indisponible. Réessayez dans un instant.',
    'err.forbidden': 'Vous n’avez pas accès à cette action.',
    'err.csrf_failed': 'Votre session de sécurité a expiré. Rechargez la page puis réessayez.',
    'err.insufficient_funds': 'Solde insuffisant. Rechargez votre portefeuille ci-dessous pour acheter cet avatar.',
    'err.near_duplicate_sold': 'Quelqu’un vient d’acheter un avatar presque identique : celui-ci n’est plus disponible. Générez-en de nouveaux !',
    'err.candidate_expired': 'Cette proposition a expiré. Générez-en de nouvelles.',
    'err.candidate_not_found': 'Cette proposition n’existe plus. Générez-en de nouvelles.',
    'err.not_found': 'Élément introuvable.',
    'err.theme_not_found': 'Ce thème n’existe pas.',
    'err.theme_retired': 'Ce thème a été retiré : il ne génère plus d’avatars.',
    'err.theme_not_ready': 'Ce thème n’est pas encore prêt.',
    'err.rate_limited': 'Trop de demandes d’un coup. Patientez un instant puis réessayez.',
    'err.rate_limited_wait': 'Trop de demandes d’un coup. Réessayez dans {seconds}\u00a0s.',
    'err.generation_failed': 'La génération a échoué. Réessayez dans un instant.',
    'err.payment_failed': 'Le paiement a échoué.',
    'err.card_declined': 'Votre carte a été refusée.',
    'err.invalid_amount': 'Choisissez l’un des packs proposés.',
    'err.network': 'Connexion au service impossible. Vérifiez votre réseau puis réessayez.',
    'err.server': 'Une erreur inattendue est survenue. Réessayez dans un instant.',
    'err.unknown': 'Une erreur est survenue : {message}',
  },

  en: {
    'app.name': 'Effigies Edification',
    'app.loading': 'Loading…',
    'app.skip': 'Skip to content',
    'app.lang_group': 'Language',
    'app.lang_fr': 'Français',
    'app.lang_en': 'English',
    'app.footer': 'Effigies Edification — unique avatars invented by a GAN, one owner each.',
    'app.boot_failed': 'The service is not answering. Check your connection and reload the page.',
    'app.retry': 'Try again',

    'nav.label': 'Main navigation',
    'nav.themes': 'Themes',
    'nav.wallet': 'Wallet',
    'nav.avatars': 'My avatars',
    'nav.login': 'Log in',
    'nav.signup': 'Sign up',
    'nav.logout': 'Log out',
    'nav.hello': 'Hello, {name}',
    'nav.balance': 'Balance: {amount}',
    'nav.balance_label': 'Wallet balance: {amount}. Open the wallet',

    'home.title': 'Your unique avatar, invented for you',
    'home.lead': 'Pick a theme, let our neural network imagine avatars, regenerate until one wins your heart, then buy it for {price}: it belongs to you alone.',
    'home.pedagogy': 'A GAN is two networks teaching each other: a generator invents images and a discriminator learns to tell them from real ones, so each pushes the other to improve — treat every proposal as a source of inspiration.',
    'home.steps_title': 'How it works',
    'home.step1': 'Pick a theme.',
    'home.step2': 'Generate and regenerate proposals.',
    'home.step3': 'Buy the one you like ({price}): it becomes unique and yours alone.',
    'home.themes_title': 'Themes',
    'home.no_themes': 'No theme is available yet. Come back soon!',
    'home.sample_alt': 'Sample avatars from the “{name}” theme',
    'home.open_theme': 'Create a “{name}” avatar',
    'home.attribution': 'Training data: {text}',

    'theme.status.published': 'Available',
    'theme.status.draft': 'In preparation',
    'theme.status.training': 'Training',
    'theme.status.ready': 'Coming soon',
    'theme.status.retired': 'Retired',
    'theme.back': '← All themes',
    'theme.not_available': 'This theme cannot generate avatars right now.',
    'theme.generate': 'Generate',
    'theme.regenerate': 'Regenerate',
    'theme.generate_hint': 'Each generation offers {count} avatars. Regenerating is free; you only pay for the one you keep.',
    'theme.login_to_generate': 'Log in to generate avatars.',
    'theme.price_and_balance': 'Price: {price} per avatar — your balance: {balance}',
    'theme.price': 'Price: {price} per avatar',
    'theme.topup_link': 'Top up',
    'theme.status.queued': 'Queued…',
    'theme.status.running': 'Generating…',
    'theme.status.done': (p) => p.count === 1 ? '1 proposal ready.' : `${p.count} proposals ready.`,
    'theme.status.failed': 'Generation failed. Please try again in a moment.',
    'theme.status.timeout': 'Generation is taking longer than expected. Please try again in a moment.',
    'theme.candidates_title': 'Proposals',
    'theme.candidate_alt': 'Proposal {n} of {total}',
    'theme.buy': 'Buy for {price}',
    'theme.buying': 'Buying…',
    'theme.expires': 'Expires at {time}',
    'theme.expired': 'Expired',
    'theme.unavailable': 'Unavailable',
    'theme.bought': 'It’s yours! Find it in “My avatars”.',
    'theme.bought_link': 'See my avatars',
    'theme.bought_alt': 'Your new avatar',
    'theme.topup_title': 'Top up your wallet to buy',
    'theme.topup_done': 'Wallet topped up: you can now buy your avatar.',

    'wallet.title': 'Wallet',
    'wallet.balance': 'Balance',
    'wallet.explain': 'An avatar costs {price}; since a card payment must be at least €0.50, you top up your wallet with packs and each purchase is taken from it.',
    'wallet.packs': 'Choose a pack',
    'wallet.pack': (p) => `${p.count} avatar${p.count > 1 ? 's' : ''}`,
    'wallet.topup_title': 'Top up my wallet',
    'wallet.card_label': 'Card',
    'wallet.shim.number': 'Card number',
    'wallet.shim.exp_month': 'Expiry month (MM)',
    'wallet.shim.exp_year': 'Expiry year (YY)',
    'wallet.shim.cvc': 'Security code (CVC)',
    'wallet.shim.postal_code': 'Postcode',
    'wallet.card_hint': 'Secure payment by Stripe. We never see your card number.',
    'wallet.pay': 'Pay {amount}',
    'wallet.step.loading': 'Loading the payment form…',
    'wallet.step.ready': 'Enter your card, then pay.',
    'wallet.step.setup': 'Preparing the payment…',
    'wallet.step.confirming': 'Checking the card…',
    'wallet.step.charging': 'Processing the payment…',
    'wallet.step.succeeded': 'Payment received: {amount} added to your wallet.',
    'wallet.step.failed': 'The payment failed: {message}',
    'wallet.step.pending_long': 'The payment is still being processed. Your balance will update as soon as it is confirmed.',
    'wallet.card_error': 'Check your card details.',
    'wallet.stripe_unavailable': 'Card payment is unavailable right now.',
    'wallet.history': 'History',
    'wallet.history_empty': 'No transactions yet.',
    'wallet.col_date': 'Date',
    'wallet.col_description': 'Transaction',
    'wallet.col_amount': 'Amount',
    'wallet.kind.topup': 'Card top-up',
    'wallet.kind.purchase': 'Avatar purchase',
    'wallet.kind.adjustment': 'Adjustment',
    'wallet.kind.refund': 'Refund',

    'avatars.title': 'My avatars',
    'avatars.empty': 'You have no avatar yet.',
    'avatars.empty_link': 'Pick a theme',
    'avatars.alt': 'Avatar {id}',
    'avatars.url_label': 'Public address of avatar {id}',
    'avatars.copy': 'Copy',
    'avatars.copied': 'Address copied.',
    'avatars.copy_failed': 'Could not copy: select the address and copy it.',
    'avatars.sizes': 'Sizes:',
    'avatars.size_link': '{size} px',
    'avatars.size_label': 'Open avatar {id} at {size} × {size} pixels',
    'avatars.bought_on': 'Bought on {date}',
    'avatars.theme': 'Theme: {name}',

    'auth.login_title': 'Log in',
    'auth.signup_title': 'Create an account',
    'auth.email': 'E-mail address',
    'auth.password': 'Password',
    'auth.password_hint': 'At least 10 characters.',
    'auth.display_name': 'Display name',
    'auth.login_submit': 'Log in',
    'auth.signup_submit': 'Create my account',
    'auth.no_account': 'No account yet?',
    'auth.have_account': 'Already have an account?',
    'auth.required': 'Log in to see this page.',
    'auth.working': 'One moment…',

    'notfound.title': 'Page not found',
    'notfound.back': 'Back to the home page',

    'err.not_authenticated': 'Your session has expired: please log in again.',
    'err.invalid_credentials': 'Wrong e-mail address or password.',
    'err.email_taken': 'An account already uses this e-mail address. Log in instead.',
    'err.validation_error': 'Some details are invalid. Please check the form.',
    'err.password_too_short': 'The password must be at least 10 characters long.',
    'err.invalid_email': 'This e-mail address is not valid.',
    'err.invalid_display_name': 'Enter a display name (80 characters at most).',
    'err.unavailable': 'The service is briefly unavailable. Please try again in a moment.',
    'err.forbidden': 'You are not allowed to do this.',
    'err.csrf_failed': 'Your security session has expired. Reload the page and try again.',
    'err.insufficient_funds': 'Insufficient balance. Top up your wallet below to buy this avatar.',
    'err.near_duplicate_sold': 'Someone just bought a near-identical avatar, so this one is no longer available. Generate new ones!',
    'err.candidate_expired': 'This proposal has expired. Generate new ones.',
    'err.candidate_not_found': 'This proposal no longer exists. Generate new ones.',
    'err.not_found': 'Not found.',
    'err.theme_not_found': 'This theme does not exist.',
    'err.theme_retired': 'This theme has been retired: it no longer generates avatars.',
    'err.theme_not_ready': 'This theme is not ready yet.',
    'err.rate_limited': 'Too many requests at once. Wait a moment and try again.',
    'err.rate_limited_wait': 'Too many requests at once. Try again in {seconds}\u00a0s.',
    'err.generation_failed': 'Generation failed. Please try again in a moment.',
    'err.payment_failed': 'The payment failed.',
    'err.card_declined': 'Your card was declined.',
    'err.invalid_amount': 'Choose one of the packs offered.',
    'err.network': 'Cannot reach the service. Check your network and try again.',
    'err.server': 'Something unexpected went wrong. Please try again in a moment.',
    'err.unknown': 'Something went wrong: {message}',
  },
};

function initialLocale() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LOCALES.includes(saved)) return saved;
  } catch (_) { /* storage disabled */ }
  return 'fr';
}

let current = initialLocale();
const listeners = new Set();

export function getLocale() { return current; }

/** True when the person picked a language on this device (it then wins over the account's). */
export function hasSavedLocale() {
  try { return LOCALES.includes(localStorage.getItem(STORAGE_KEY)); } catch (_) { return false; }
}

export function setLocale(locale, { save = true } = {}) {
  if (!LOCALES.includes(locale)) return;
  if (save) {
    try { localStorage.setItem(STORAGE_KEY, locale); } catch (_) { /* ignore */ }
  }
  if (locale === current) return;
  current = locale;
  document.documentElement.lang = locale;
  listeners.forEach((fn) => fn(locale));
}

export function onLocaleChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function t(key, params = {}) {
  const value = dict[current][key] ?? dict.fr[key];
  if (value === undefined) {
    console.warn('i18n: missing key', key);
    return key;
  }
  if (typeof value === 'function') return value(params);
  return value.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

export function hasKey(key) { return key in dict[current]; }

const INTL = { fr: 'fr-FR', en: 'en-IE' };

/** 100 → "1,00 €" (fr) or "€1.00" (en). */
export function money(cents, currency = 'eur') {
  return new Intl.NumberFormat(INTL[current], { style: 'currency', currency: currency.toUpperCase() })
    .format(cents / 100);
}

/** Money without trailing zeros where whole: 100 → "1 €" / "€1". */
export function moneyShort(cents, currency = 'eur') {
  const whole = cents % 100 === 0;
  return new Intl.NumberFormat(INTL[current], {
    style: 'currency', currency: currency.toUpperCase(),
    minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: 2,
  }).format(cents / 100);
}

export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(INTL[current], { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function dateOnly(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(INTL[current], { dateStyle: 'long' }).format(d);
}

export function timeOnly(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(INTL[current], { timeStyle: 'short' }).format(d);
}

document.documentElement.lang = current;

/** A check both dictionaries have the same keys (used by the test page / console). */
export function missingKeys() {
  const fr = Object.keys(dict.fr), en = Object.keys(dict.en);
  return { en: fr.filter((k) => !(k in dict.en)), fr: en.filter((k) => !(k in dict.fr)) };
}
