/** `30d`, `12h`, `2w`, `90s` as milliseconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,6})(s|h|d|w)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { s: 1000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[match[2] as 's' | 'h' | 'd' | 'w'];
  const ms = Number(match[1]) * unit;
  return ms > 0 ? ms : undefined;
}
