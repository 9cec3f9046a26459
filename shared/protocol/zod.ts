/**
 * zod/mini, the tree-shakable zod, with the English messages that classic zod
 * loads by itself (mini would say "Invalid input"). Every module that uses zod
 * imports it from here.
 */

import { en } from "zod/locales";
import * as z from "zod/mini";

z.config(en());

export * from "zod/mini";
