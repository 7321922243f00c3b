// The patient page's words, in English and Russian, chosen from the browser's languages (navigator.languages).
// Plain sentences for a worried person: what the verdict means and what to do.

export type Lang = 'en' | 'ru';

export function pickLang(languages: readonly string[]): Lang {
  for (const l of languages) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'ru') return 'ru';
    if (base === 'en') return 'en';
  }
  return 'en';
}

export type VerdictKey =
  | 'GENUINE' | 'DISPENSED' | 'RECALLED' | 'EXPIRED' | 'IN_TRANSIT' | 'UNKNOWN' | 'COUNTERFEIT' | 'SUSPICIOUS'
  | 'NOT_GENUINE' | 'CANNOT_CONFIRM' | 'ERROR';

interface Words {
  title: string;
  checking: string;
  verdict: Record<VerdictKey, { head: string; text: string }>;
  /** What to do, where it is not simply "do not take" (a dispensed pack is the normal case for a patient). */
  todo: Partial<Record<VerdictKey, string>>;
  medicine: string;
  manufacturer: string;
  lot: string;
  expiry: string;
  serial: string;
  journey: string;
  steps: Record<string, string>;
  whatToDo: string;
  doNotTake: string;
  report: string;
  reportSent: (id: number) => string;
  reportFailed: string;
  checksHead: string;
  checks: Record<string, string>;
  checkStatus: { ok: string; failed: string; missing: string };
  logKey: string;
  keepProof: string;
  keepProofHint: string;
  noSignature: string;
  /** The server's verdict differed from the state the ledger proves: the page shows the proven one. */
  serverWrong: (server: string) => string;
  /** The newest witness countersignature is too old: the server may be showing an old record. */
  stale: string;
  another: string;
  scan: string;
  scanStop: string;
  scanHint: string;
  noCamera: string;
  typeHead: string;
  gtinLabel: string;
  gtinHint: string;
  serialLabel: string;
  check: string;
  badCode: string;
  serverSaid: string;
  /** A date as Intl.DateTimeFormat(lang, { dateStyle: 'medium' }) writes it; month 0-11. */
  date: (day: number, month: number, year: number) => string;
}

// Written out rather than asked of Intl: a page's first Intl formatter costs 20-50 ms (locale data), on the
// path to the verdict. test/web/dates.test.ts holds these to Intl's output.
const EN_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const RU_MONTHS = ['янв.', 'февр.', 'мар.', 'апр.', 'мая', 'июн.', 'июл.', 'авг.', 'сент.', 'окт.', 'нояб.', 'дек.'];

const en: Words = {
  title: 'Is my medicine genuine?',
  checking: 'Checking this pack…',
  verdict: {
    GENUINE: { head: 'Genuine', text: 'This pack was made by its manufacturer and came to you through the registered supply chain.' },
    DISPENSED: { head: 'Handed out by a pharmacy', text: 'A pharmacy handed this pack to a patient. If a pharmacy gave it to you, this is the normal record: use it as your doctor or pharmacist told you.' },
    RECALLED: { head: 'Recalled — do not take', text: 'The manufacturer or the regulator has recalled this batch.' },
    EXPIRED: { head: 'Expired — do not take', text: 'This medicine is past its expiry date.' },
    IN_TRANSIT: { head: 'Not yet delivered — ask your pharmacist', text: 'The ledger says this pack is still on its way between companies, so it should not have reached a patient yet.' },
    UNKNOWN: { head: 'Not found — do not take', text: 'This pack is not in the ledger. It may be fake.' },
    COUNTERFEIT: { head: 'NOT GENUINE — do not take', text: 'The code on this pack is not the manufacturer’s. It is likely fake.' },
    SUSPICIOUS: { head: 'Suspicious — check with a pharmacist', text: 'The pack is registered, but something about it is unusual.' },
    NOT_GENUINE: { head: 'NOT GENUINE — do not take', text: 'This phone checked the evidence itself and it does not hold, whatever the server says.' },
    CANNOT_CONFIRM: { head: 'Cannot confirm', text: 'The server did not give the evidence this phone needs to confirm the pack. Treat it with caution.' },
    ERROR: { head: 'Cannot check now', text: 'The check could not be completed. Try again later.' },
  },
  medicine: 'Medicine',
  manufacturer: 'Manufacturer',
  lot: 'Batch (lot)',
  expiry: 'Expiry',
  serial: 'Serial number',
  journey: 'Its journey',
  steps: { made: 'Made', distributed: 'Distributed', at_pharmacy: 'At the pharmacy', missing: 'Reported missing on delivery', dispensed: 'Handed out', recalled: 'Recalled', in_transit: 'On its way', returned: 'Returned to stock', decommissioned: 'Taken out of use' },
  whatToDo: 'What to do',
  doNotTake: 'Do not take this medicine. Keep the pack and show it to a pharmacist or your doctor. You can report it so the medicines regulator sees it.',
  todo: {
    DISPENSED: 'If you did not get this pack from a pharmacy (bought online, from someone else, or sold to you as new), do not take it: show it to a pharmacist. You can report it so the medicines regulator sees it.',
    IN_TRANSIT: 'Do not take it yet. Show it to the pharmacist who gave it to you: the delivery may not have been recorded. You can report it so the medicines regulator sees it.',
  },
  report: 'Report this pack to the regulator',
  reportSent: (id) => `Thank you. Your report was recorded (number ${id}). The regulator can see it.`,
  reportFailed: 'The report could not be sent. Please try again.',
  checksHead: 'Checked on this phone',
  checks: {
    checkpoint: 'The ledger’s record is signed by the ledger’s key',
    witnesses: 'Independent witnesses have countersigned that record',
    maker_key: 'The manufacturer’s key is registered in the ledger',
    pack_in_log: 'This pack is recorded in the ledger',
    pack_signature: 'The code carries the manufacturer’s signature',
    pack_state: 'This pack’s current state is the one the ledger signed',
  },
  checkStatus: { ok: 'passed', failed: 'FAILED', missing: 'not available' },
  logKey: 'Ledger key this page trusts',
  keepProof: 'Keep this proof',
  keepProofHint: 'A small file that shows this pack’s state as the ledger signed it today; anyone can check it later without this website (medtrail check-proof).',
  noSignature: 'The code had no manufacturer’s signature, so this pack cannot be confirmed from it: scan the pack’s own QR code or tap its NFC tag.',
  serverWrong: (server) => `The server answered “${server}”, but the record the ledger signed says otherwise: this page shows what the record proves.`,
  stale: 'The ledger’s record shown here is older than the witnesses allow: the server may be showing an old record. Try again later.',
  another: 'Check a pack',
  scan: 'Scan the QR code with the camera',
  scanStop: 'Stop the camera',
  scanHint: 'Point the camera at the square code on the pack.',
  noCamera: 'The camera is not available. Type the code instead.',
  typeHead: 'Or type the code printed on the pack',
  gtinLabel: 'Product code (GTIN), or the whole code',
  gtinHint: 'The 14 digits after (01) or GTIN; or everything printed next to the square code.',
  serialLabel: 'Serial number (SN)',
  check: 'Check',
  badCode: 'That code does not look right. Check the digits and try again.',
  serverSaid: 'Details from the ledger',
  date: (d, m, y) => `${EN_MONTHS[m] ?? ''} ${d}, ${y}`,
};

const ru: Words = {
  title: 'Подлинное ли моё лекарство?',
  checking: 'Проверяем упаковку…',
  verdict: {
    GENUINE: { head: 'Подлинное', text: 'Эта упаковка выпущена производителем и пришла к вам по зарегистрированной цепочке поставок.' },
    DISPENSED: { head: 'Выдано аптекой', text: 'Аптека выдала эту упаковку пациенту. Если вы получили её в аптеке, это обычная запись: применяйте лекарство, как сказал врач или фармацевт.' },
    RECALLED: { head: 'Отозвано — не принимайте', text: 'Производитель или регулятор отозвал эту серию.' },
    EXPIRED: { head: 'Срок годности истёк — не принимайте', text: 'Срок годности этого лекарства истёк.' },
    IN_TRANSIT: { head: 'Ещё не доставлено — спросите фармацевта', text: 'По данным реестра упаковка ещё в пути между компаниями, поэтому она не должна была попасть к пациенту.' },
    UNKNOWN: { head: 'Не найдено — не принимайте', text: 'Этой упаковки нет в реестре. Возможно, это подделка.' },
    COUNTERFEIT: { head: 'НЕ ПОДЛИННОЕ — не принимайте', text: 'Код на упаковке не принадлежит производителю. Вероятно, это подделка.' },
    SUSPICIOUS: { head: 'Подозрительно — спросите фармацевта', text: 'Упаковка зарегистрирована, но с ней что-то необычно.' },
    NOT_GENUINE: { head: 'НЕ ПОДЛИННОЕ — не принимайте', text: 'Телефон сам проверил доказательства, и они не сходятся, что бы ни говорил сервер.' },
    CANNOT_CONFIRM: { head: 'Не удалось подтвердить', text: 'Сервер не дал доказательств, нужных телефону для проверки. Будьте осторожны.' },
    ERROR: { head: 'Проверка сейчас невозможна', text: 'Проверку не удалось завершить. Попробуйте позже.' },
  },
  medicine: 'Лекарство',
  manufacturer: 'Производитель',
  lot: 'Серия',
  expiry: 'Годен до',
  serial: 'Серийный номер',
  journey: 'Путь упаковки',
  steps: { made: 'Произведено', distributed: 'У дистрибьютора', at_pharmacy: 'В аптеке', missing: 'Не получено: пропало при доставке', dispensed: 'Выдано', recalled: 'Отозвано', in_transit: 'В пути', returned: 'Возвращено на склад', decommissioned: 'Выведено из оборота' },
  whatToDo: 'Что делать',
  doNotTake: 'Не принимайте это лекарство. Сохраните упаковку и покажите её фармацевту или врачу. Вы можете сообщить о ней регулятору.',
  todo: {
    DISPENSED: 'Если вы получили упаковку не в аптеке (купили в интернете, у другого человека или как новую), не принимайте лекарство: покажите упаковку фармацевту. Вы можете сообщить о ней регулятору.',
    IN_TRANSIT: 'Пока не принимайте лекарство. Покажите упаковку фармацевту, который её выдал: доставка могла быть не записана. Вы можете сообщить о ней регулятору.',
  },
  report: 'Сообщить регулятору об этой упаковке',
  reportSent: (id) => `Спасибо. Ваше сообщение записано (номер ${id}). Регулятор его увидит.`,
  reportFailed: 'Не удалось отправить сообщение. Попробуйте ещё раз.',
  checksHead: 'Проверено на этом телефоне',
  checks: {
    checkpoint: 'Запись реестра подписана ключом реестра',
    witnesses: 'Независимые свидетели заверили эту запись',
    maker_key: 'Ключ производителя зарегистрирован в реестре',
    pack_in_log: 'Эта упаковка записана в реестре',
    pack_signature: 'Код содержит подпись производителя',
    pack_state: 'Текущее состояние упаковки подписано реестром',
  },
  checkStatus: { ok: 'пройдено', failed: 'НЕ ПРОЙДЕНО', missing: 'нет данных' },
  logKey: 'Ключ реестра, которому доверяет страница',
  keepProof: 'Сохранить доказательство',
  keepProofHint: 'Небольшой файл с состоянием упаковки, подписанным реестром сегодня; его можно проверить позже без этого сайта (medtrail check-proof).',
  noSignature: 'В коде нет подписи производителя, поэтому подтвердить упаковку по нему нельзя: отсканируйте QR-код упаковки или приложите телефон к её NFC-метке.',
  serverWrong: (server) => `Сервер ответил «${server}», но подписанная реестром запись говорит иное: страница показывает то, что доказывает запись.`,
  stale: 'Показанная запись реестра старше, чем допускают свидетели: сервер может показывать старую запись. Попробуйте позже.',
  another: 'Проверить упаковку',
  scan: 'Сканировать QR-код камерой',
  scanStop: 'Выключить камеру',
  scanHint: 'Наведите камеру на квадратный код на упаковке.',
  noCamera: 'Камера недоступна. Введите код вручную.',
  typeHead: 'Или введите код, напечатанный на упаковке',
  gtinLabel: 'Код товара (GTIN) или весь код целиком',
  gtinHint: '14 цифр после (01) или GTIN; или всё, что напечатано рядом с квадратным кодом.',
  serialLabel: 'Серийный номер (SN)',
  check: 'Проверить',
  badCode: 'Код выглядит неверно. Проверьте цифры и попробуйте снова.',
  serverSaid: 'Подробности из реестра',
  date: (d, m, y) => `${d} ${RU_MONTHS[m] ?? ''} ${y} г.`,
};

export const WORDS: Record<Lang, Words> = { en, ru };
