import { isIP } from 'node:net';

/**
 * Checks of everything that ends up in an openssl configuration file. A config file treats
 * `$`, `#`, `\`, quotes, `,` and new lines specially, so only plain host names, literal IP
 * addresses and a narrow common name are let through; anything else is refused with a message
 * that names the value.
 */

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** A DNS name for a subjectAltName: letters, digits and hyphens in dot-separated labels, optionally `*.` first. */
export function checkDnsName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new Error('a DNS name must be a non-empty string');
  if (name.length > 253) throw new Error(`DNS name "${printable(name)}" is longer than 253 characters`);
  const labels = name.split('.');
  const rest = labels[0] === '*' ? labels.slice(1) : labels;
  if (rest.length === 0 || (labels[0] === '*' && rest.length < 2)) {
    throw new Error(`DNS name "${printable(name)}" is not valid: a wildcard needs at least two labels after "*."`);
  }
  for (const label of rest) {
    if (!LABEL.test(label)) {
      throw new Error(`DNS name "${printable(name)}" is not valid: each label must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen`);
    }
  }
  if (isIP(name) !== 0 || /^[0-9.]+$/.test(name)) throw new Error(`"${printable(name)}" is an IP address, not a DNS name: pass it in ipAddresses`);
  return name;
}

/** A literal IPv4 or IPv6 address (no zone, no brackets, no prefix length). */
export function checkIpAddress(ip: string): string {
  if (typeof ip !== 'string' || ip.length === 0) throw new Error('an IP address must be a non-empty string');
  if (ip.includes('%') || isIP(ip) === 0) throw new Error(`"${printable(ip)}" is not an IPv4 or IPv6 address`);
  return ip;
}

/** A certificate's common name: 1-64 of letters, digits, space, `.`, `_`, `-`, `:`, `*`, not starting or ending with a space. */
export function checkCommonName(cn: string): string {
  if (typeof cn !== 'string' || !/^[A-Za-z0-9*._:-](?:[A-Za-z0-9*._: -]{0,62}[A-Za-z0-9*._:-])?$/.test(cn)) {
    throw new Error(`common name "${printable(String(cn))}" is not valid: use 1-64 letters, digits, spaces, ".", "_", "-", ":" or "*"`);
  }
  return cn;
}

/** Whole days for a validity period, within 1..max. */
export function checkDays(days: number, max: number): number {
  if (!Number.isInteger(days) || days < 1 || days > max) throw new Error(`days must be a whole number from 1 to ${max} (got ${String(days)})`);
  return days;
}

function printable(s: string): string {
  const shown = s.length > 80 ? `${s.slice(0, 80)}…` : s;
  return shown.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
