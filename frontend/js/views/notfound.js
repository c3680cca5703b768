import { h } from '../dom.js';
import { t } from '../i18n.js';

export function mount(main, _params, ctx) {
  ctx.setTitle(t('notfound.title'));
  main.append(
    h('h1', { text: t('notfound.title') }),
    h('p', {}, h('a', { href: '#/', text: t('notfound.back') })));
  return null;
}
