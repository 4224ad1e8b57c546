// Protocol messages only tests write (the proxy never sends them itself): built with the
// protocol module's MessageWriter, so their framing is the one the proxy's writers use.
import { MessageWriter, type FieldDescription } from '../../src/pg/protocol.js';

/** Frontend Flush ('H'). */
export function flushMessage(): Buffer {
  return new MessageWriter().flush('H');
}

/** Backend RowDescription ('T'). */
export function rowDescription(fields: FieldDescription[]): Buffer {
  const w = new MessageWriter().int16(fields.length);
  for (const f of fields) {
    w.cstring(f.name).uint32(f.tableOid).int16(f.attnum).uint32(f.typeOid).int16(f.typeSize).int32(f.typeModifier).int16(f.format);
  }
  return w.flush('T');
}

/** Backend CommandComplete ('C'). */
export function commandComplete(tag: string): Buffer {
  return new MessageWriter().cstring(tag).flush('C');
}
