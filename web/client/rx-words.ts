// The prescription page's words, English and Russian, chosen like the patient page's (navigator.languages).
import type { RxStatus } from '../../core/rx/rx.js';
import type { RxCheckId } from '../common/rx-evidence.js';
import type { Lang } from './i18n.js';

const en = {
  title: 'Your prescription',
  status: {
    open: 'Ready to be dispensed',
    claimed: 'Being dispensed by a pharmacy',
    completed: 'Fully dispensed',
    cancelled: 'Cancelled by the prescriber',
    expired: 'Expired',
    not_yet_valid: 'Not valid yet',
  } satisfies Record<RxStatus, string>,
  unproven: 'Not confirmed: the evidence does not hold',
  dispensedOf: (n: number, total: number, left: number | null) => `${n} of ${total} pack${total === 1 ? '' : 's'} dispensed${left !== null ? `; ${left} left` : ''}.`,
  checks: {
    checkpoint: 'The ledger’s signed checkpoint (key pinned in this page)',
    rx_in_log: 'The prescription is in the ledger',
    rx_token: 'It is the prescription your code belongs to',
    prescriber_key: 'The prescriber is enrolled in the ledger',
    rx_signature: 'The prescriber signed it',
  } satisfies Record<RxCheckId, string>,
  failed: (code: string) => ` — failed (${code})`,
  dosage: 'Dosage', quantity: 'Quantity', valid: 'Valid', prescribedBy: 'Prescribed by', atPharmacy: 'At the pharmacy', cancelled: 'Cancelled',
  packs: (q: number, r: number) => `${q} pack${q === 1 ? '' : 's'}${r > 0 ? `, ${r} repeat${r === 1 ? '' : 's'}` : ''}`,
  dispensedHead: 'Dispensed', nothingYet: 'Nothing yet.', takenBack: ' (taken back)', pack: 'pack',
  showHead: 'Show this at the pharmacy',
  showHint: 'Anyone with this code can see the prescription and have it dispensed: show it only to your pharmacy.',
  qrLabel: 'your prescription token',
  checkedHead: 'Checked on this device', ledgerKey: 'Ledger key: ',
  checking: 'Checking your prescription…',
  noKey: 'This page has no ledger key pinned: it cannot check anything.',
  denied: 'This code does not open a prescription. Check the link or the code.',
  limited: 'Too many wrong codes from here. Please wait a while and try again.',
  failedLoad: (code: string) => `The prescription could not be loaded (${code}).`,
  notOpened: 'Not opened',
  openHead: 'Open your prescription', tokenLabel: 'Your prescription token (the link or the code printed under the QR code)', open: 'Open',
};

const ru: typeof en = {
  title: 'Ваш рецепт',
  status: {
    open: 'Готов к отпуску',
    claimed: 'Отпускается аптекой',
    completed: 'Отпущен полностью',
    cancelled: 'Отменён врачом',
    expired: 'Срок действия истёк',
    not_yet_valid: 'Ещё не действует',
  },
  unproven: 'Не подтверждено: доказательства не сходятся',
  dispensedOf: (n, total, left) => `Отпущено упаковок: ${n} из ${total}${left !== null ? `; осталось ${left}` : ''}.`,
  checks: {
    checkpoint: 'Подписанная контрольная точка реестра (ключ закреплён в странице)',
    rx_in_log: 'Рецепт есть в реестре',
    rx_token: 'Это рецепт, к которому относится ваш код',
    prescriber_key: 'Врач зарегистрирован в реестре',
    rx_signature: 'Рецепт подписан врачом',
  },
  failed: (code) => ` — не пройдено (${code})`,
  dosage: 'Дозировка', quantity: 'Количество', valid: 'Действует', prescribedBy: 'Выписал', atPharmacy: 'В аптеке', cancelled: 'Отменён',
  packs: (q, r) => `упаковок: ${q}${r > 0 ? `, повторов: ${r}` : ''}`,
  dispensedHead: 'Отпущено', nothingYet: 'Пока ничего.', takenBack: ' (возвращено)', pack: 'упаковка',
  showHead: 'Покажите это в аптеке',
  showHint: 'Любой, у кого есть этот код, может увидеть рецепт и получить по нему лекарство: показывайте его только своей аптеке.',
  qrLabel: 'код вашего рецепта',
  checkedHead: 'Проверено на этом устройстве', ledgerKey: 'Ключ реестра: ',
  checking: 'Проверяем ваш рецепт…',
  noKey: 'В странице нет ключа реестра: проверить ничего нельзя.',
  denied: 'Этот код не открывает рецепт. Проверьте ссылку или код.',
  limited: 'Слишком много неверных кодов отсюда. Подождите и попробуйте снова.',
  failedLoad: (code) => `Не удалось загрузить рецепт (${code}).`,
  notOpened: 'Не открыто',
  openHead: 'Откройте свой рецепт', tokenLabel: 'Код рецепта (ссылка или код под QR-кодом)', open: 'Открыть',
};

export const RX_WORDS: Record<Lang, typeof en> = { en, ru };
