// Transcribed from the seed generator's tables (SPEC.md S1.3, S1.5; tables in list order; the
// pinned sha256 of the regenerated benchmark checks every entry).
#include "skeletons.h"

#include <algorithm>

namespace tttmem::bench::data {

const std::vector<std::string_view> kNames{
    "张伟", "李明", "王芳", "陈强", "刘洋", "周静", "吴磊", "黄敏", "赵刚", "孙丽", "钱进", "钟华", "马涛", "朱琳", "胡军",
    "郭斌", "林雪", "何鑫", "高帆", "罗娜", "梁志", "宋燕", "唐杰", "韩冰", "冯雷", "邓超", "曹颖", "彭浩", "曾婷", "肖敏",
    "田勇", "贾静", "傅明", "丁辉", "沈虹", "魏强", "蒋鹏", "薛莉", "段宇", "雷鸣", "苏晴", "潘越", "卢凯", "蔡蓓", "汪涛",
    "顾嘉", "侯亮", "邱阳", "石磊", "金雯", "戚浩", "邹雪", "尹辉", "崔颖", "钮晨", "万峰", "毛伟", "施静", "覃浩", "项云"};  // 60
const std::vector<std::string_view> kRoles{
    "市场部负责人", "技术总监", "项目经理", "产品经理", "财务总监", "运营经理", "销售总监", "设计主管", "研发主管", "人力资源经理", "运维总监",
    "战略顾问", "首席架构师", "测试经理", "客服主管", "采购经理", "法务总监", "数据分析主管"};  // 18
const std::vector<std::string_view> kDepartments{
    "市场部", "技术部", "产品部", "财务部", "运营部", "销售部", "设计部", "研发部", "人力资源部", "运维部", "战略部", "数据部"};  // 12
const std::vector<std::string_view> kProjects{
    "A项目", "B项目", "新产品发布", "Q2规划", "海外扩张", "用户调研", "迁移升级", "品牌重塑", "客户大会", "年度审计", "供应链优化",
    "渠道建设", "OKR复盘", "数据治理", "降本增效", "技术债清理", "合规整改", "客户体验改造"};  // 18
const std::vector<std::string_view> kLocations{
    "3号楼12层", "总部大楼", "二楼会议室", "5号楼A区", "西区办公园", "南方分部", "北京总部", "上海办公室", "深圳分公司", "杭州研发中心",
    "成都团队", "武汉运营中心", "1号楼会议厅", "10楼茶水间", "8楼大会议室", "2号楼路演厅", "园区咖啡厅"};  // 17
const std::vector<std::string_view> kPreferences{
    "不吃辣", "偏好清淡", "喜欢早起", "不喝咖啡", "对花生过敏", "习惯靠窗座位", "喜欢安静的会议室", "讨厌长会", "偏好书面沟通", "晨型人",
    "夜猫子型", "工作时不接电话", "只在邮件里讨论合同", "需要全套素食", "不喝酒", "习惯站立工作"};  // 16
const std::vector<std::string_view> kWeekdays{
    "周一", "周二", "周三", "周四", "周五"};  // 5
const std::vector<std::string_view> kDayparts{
    "上午", "下午", "晚上"};  // 3
const std::vector<std::string_view> kHours{
    "八点", "九点", "十点", "十一点", "一点", "两点", "三点", "四点", "五点", "六点", "七点"};  // 11
const std::vector<std::pair<std::string_view, std::string_view>> kPronounPairs{
    {"A", "B"}, {"我", "对方"}, {"领导", "我"}, {"HR", "新同事"}, {"项目方", "供应商"}};
const std::vector<int> kHeadcounts{8, 12, 15, 20, 25, 30, 40, 50, 80, 100, 120};

// Per skeleton: template lines, slot fill order, registered rows (F<k>/P<k>), composed specs.
const std::vector<SkeletonDef> kSkeletons{
    {"SK-1",
     {"{p1}：你好，{name_a}，最近怎么样？",
      "{p2}：还行，最近在忙{project}。{name_b}也参与了。",
      "{p1}：哦{project}啊，截止日期记得是{deadline}对吧？预算多少？",
      "{p2}：嗯，{deadline}前要交。预算{budget}。{name_b}是{role_b}，主要负责对接客户。",
      "{p1}：{name_b}向谁汇报？",
      "{p2}：向{name_c}汇报，{name_c}是{role_c}。",
      "{p1}：明白。你工号还是{empid}吧？",
      "{p2}：嗯，{empid}。会议室订{location}，行不行？",
      "{p1}：行。我{pref}，午餐记得安排清淡点。",
      "{p2}：好。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"name_c", Pool::Person}, {"project", Pool::Project}, {"deadline", Pool::Date}, {"budget", Pool::Numeric}, {"role_b", Pool::Role}, {"role_c", Pool::Role}, {"empid", Pool::Numeric}, {"location", Pool::Spatial}, {"pref", Pool::Preference}},
     {{"name_b", "person", "{name_b} 是 {project} 的参与者", "{project} 由谁参与？"},
      {"name_c", "person", "{name_c} 是 {name_b} 的上级", "{name_b} 向谁汇报？"},
      {"project", "project", "目前在做的项目是 {project}", "目前在做什么项目？"},
      {"deadline", "temporal", "{project} 的截止日期是 {deadline}", "{project} 什么时候截止？"},
      {"budget", "numeric", "{project} 的预算是 {budget}", "{project} 的预算是多少？"},
      {"role_b", "relational", "{name_b} 的职位是 {role_b}", "{name_b} 是什么职位？"},
      {"role_c", "relational", "{name_c} 的职位是 {role_c}", "{name_c} 是什么职位？"},
      {"empid", "numeric", "{p2} 的工号是 {empid}", "{p2} 的工号是多少？"},
      {"location", "spatial", "会议室在 {location}", "会议室在哪里？"},
      {"pref", "preference", "{p1} {pref}", "{p1} 的饮食偏好是什么？"}},
     {{"name_b", "role_b", "项目的参与者职位是什么？", "{role_b}"},
      {"project", "deadline", "目前在做的项目什么时候截止？", "{deadline}"},
      {"project", "budget", "目前在做的项目预算多少？", "{budget}"},
      {"name_b", "name_c", "{name_b} 向谁汇报？", "{name_c}"},
      {"location", "pref", "会议室在哪，{p1} 的饮食偏好是什么？", "{location}；{pref}"}}},
    {"SK-2",
     {"{p1}：欢迎来到公司，{name_a}。先做个简单介绍吧。",
      "{p2}：好的。我叫{name_a}，加入{dept}，工号{empid}。",
      "{p1}：你的直属领导是{name_b}，{name_b}是{role_b}。办公室在{location}。",
      "{p2}：明白。我入职日期是{deadline}对吗？",
      "{p1}：对，{deadline}正式入职。第一个项目是{project}，预算{budget}。",
      "{p2}：人手够吗？",
      "{p1}：团队总共{headcount}人。会议时间是{daytime}，每周一次。",
      "{p2}：好的。另外我{pref}，午餐时麻烦留意一下。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"dept", Pool::Department}, {"empid", Pool::Numeric}, {"role_b", Pool::Role}, {"location", Pool::Spatial}, {"deadline", Pool::Date}, {"project", Pool::Project}, {"budget", Pool::Numeric}, {"headcount", Pool::Numeric}, {"daytime", Pool::Temporal}, {"pref", Pool::Preference}},
     {{"name_a", "person", "新同事叫 {name_a}", "新同事叫什么？"},
      {"name_b", "person", "{name_a} 的直属领导是 {name_b}", "{name_a} 的直属领导是谁？"},
      {"dept", "relational", "{name_a} 加入 {dept}", "{name_a} 在哪个部门？"},
      {"empid", "numeric", "{name_a} 的工号是 {empid}", "{name_a} 的工号是多少？"},
      {"role_b", "relational", "{name_b} 的职位是 {role_b}", "{name_b} 是什么职位？"},
      {"location", "spatial", "{name_a} 办公室在 {location}", "{name_a} 办公室在哪里？"},
      {"deadline", "temporal", "{name_a} 入职日期是 {deadline}", "{name_a} 什么时候入职？"},
      {"project", "project", "{name_a} 的第一个项目是 {project}", "{name_a} 的第一个项目是什么？"},
      {"budget", "numeric", "{project} 的预算是 {budget}", "{project} 的预算是多少？"},
      {"headcount", "numeric", "团队总共 {headcount} 人", "团队多少人？"},
      {"daytime", "temporal", "每周会议时间是 {daytime}", "每周会议什么时候？"},
      {"pref", "preference", "{name_a} {pref}", "{name_a} 的饮食偏好是什么？"}},
     {{"name_a", "dept", "新同事在哪个部门？", "{dept}"},
      {"name_a", "empid", "新同事的工号是多少？", "{empid}"},
      {"name_a", "deadline", "新同事什么时候入职？", "{deadline}"},
      {"name_a", "name_b", "新同事的领导是谁？", "{name_b}"},
      {"project", "budget", "新同事的第一个项目预算多少？", "{budget}"}}},
    {"SK-3",
     {"{p1}：{name_a}，关于{project}的供应商对接你做得怎么样了？",
      "{p2}：进度还行。供应商联系人是{name_b}，{role_b}。报价{budget}。",
      "{p1}：对方公司在哪？",
      "{p2}：办公地点在{location}。{name_b}的工号或对方代号是{empid}。",
      "{p1}：交付时间敲定了吗？",
      "{p2}：交付定在{deadline}，会议安排在{daytime}走流程。",
      "{p1}：他们老板是{name_c}吧？",
      "{p2}：是的，{name_c}是{role_c}。我跟{name_b}打交道更多。",
      "{p1}：行。对了，下次客户晚宴别忘了，他们{pref}。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"name_c", Pool::Person}, {"project", Pool::Project}, {"role_b", Pool::Role}, {"role_c", Pool::Role}, {"budget", Pool::Numeric}, {"location", Pool::Spatial}, {"empid", Pool::Numeric}, {"deadline", Pool::Date}, {"daytime", Pool::Temporal}, {"pref", Pool::Preference}},
     {{"name_b", "person", "{project} 的供应商联系人是 {name_b}", "{project} 的供应商联系人是谁？"},
      {"role_b", "relational", "{name_b} 的职位是 {role_b}", "{name_b} 是什么职位？"},
      {"budget", "numeric", "供应商报价是 {budget}", "供应商报价是多少？"},
      {"location", "spatial", "供应商办公地点是 {location}", "供应商办公地点在哪里？"},
      {"empid", "numeric", "对方代号是 {empid}", "对方代号是什么？"},
      {"deadline", "temporal", "交付时间是 {deadline}", "交付时间是什么时候？"},
      {"daytime", "temporal", "对接会议时间是 {daytime}", "对接会议什么时候？"},
      {"name_c", "person", "{name_c} 是供应商方老板", "供应商方老板是谁？"},
      {"role_c", "relational", "{name_c} 的职位是 {role_c}", "{name_c} 的职位是什么？"},
      {"pref", "preference", "客户 {pref}", "客户的饮食偏好是什么？"}},
     {{"project", "name_b", "项目的供应商联系人是谁？", "{name_b}"},
      {"name_b", "role_b", "供应商联系人是什么职位？", "{role_b}"},
      {"project", "budget", "供应商对项目的报价是多少？", "{budget}"},
      {"name_c", "role_c", "供应商方老板的职位是什么？", "{role_c}"},
      {"project", "deadline", "项目交付时间是什么时候？", "{deadline}"}}},
    {"SK-4",
     {"{p1}：{name_a}，下周客户拜访的安排发我一下。",
      "{p2}：好。客户公司在{location}，对接人{name_b}，{role_b}。",
      "{p1}：哪天去？",
      "{p2}：{daytime}出发，回来定在{deadline}。预算开支{budget}。",
      "{p1}：客户那边其他需要注意的吗？",
      "{p2}：{name_b}的助理叫{name_c}，他们老板{role_c}也会出席。客户编号是{empid}。",
      "{p1}：行。请确认{name_b}{pref}，午餐做相应安排。",
      "{p2}：好的。这次重点是{project}的合同签订。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"name_c", Pool::Person}, {"project", Pool::Project}, {"role_b", Pool::Role}, {"role_c", Pool::Role}, {"budget", Pool::Numeric}, {"location", Pool::Spatial}, {"empid", Pool::Numeric}, {"deadline", Pool::Date}, {"daytime", Pool::Temporal}, {"pref", Pool::Preference}},
     {{"location", "spatial", "客户公司在 {location}", "客户公司在哪？"},
      {"name_b", "person", "客户对接人是 {name_b}", "客户对接人是谁？"},
      {"role_b", "relational", "{name_b} 的职位是 {role_b}", "{name_b} 的职位是什么？"},
      {"daytime", "temporal", "出发时间是 {daytime}", "什么时候出发？"},
      {"deadline", "temporal", "回来时间是 {deadline}", "什么时候回来？"},
      {"budget", "numeric", "预算开支 {budget}", "预算开支多少？"},
      {"name_c", "person", "{name_b} 的助理是 {name_c}", "{name_b} 的助理是谁？"},
      {"role_c", "relational", "客户老板的职位是 {role_c}", "客户老板的职位是什么？"},
      {"empid", "numeric", "客户编号是 {empid}", "客户编号是多少？"},
      {"project", "project", "本次重点是 {project} 合同", "本次重点是什么？"},
      {"pref", "preference", "{name_b} {pref}", "{name_b} 的饮食偏好是什么？"}},
     {{"name_b", "role_b", "客户对接人的职位是什么？", "{role_b}"},
      {"name_b", "location", "客户对接人公司在哪？", "{location}"},
      {"name_b", "name_c", "客户对接人的助理是谁？", "{name_c}"},
      {"project", "budget", "本次重点项目的预算是多少？", "{budget}"},
      {"daytime", "deadline", "出发和回来分别是什么时候？", "{daytime}；{deadline}"}}},
    {"SK-5",
     {"{p1}：{daytime}的复盘会，谁主持？",
      "{p2}：{name_a}主持。{name_a}是{role_b}。",
      "{p1}：哪个会议室？",
      "{p2}：{location}。预计{headcount}人参加。",
      "{p1}：议题呢？",
      "{p2}：主要复盘{project}，KPI完成度和{budget}的预算执行情况。",
      "{p1}：{name_b}过来吗？",
      "{p2}：会的。{name_b}是{role_c}，向{name_a}汇报。{name_b}工号{empid}。",
      "{p1}：截止节点呢？",
      "{p2}：{deadline}前要出复盘报告。{name_a}{pref}，会议茶歇时注意。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"project", Pool::Project}, {"role_b", Pool::Role}, {"role_c", Pool::Role}, {"budget", Pool::Numeric}, {"location", Pool::Spatial}, {"empid", Pool::Numeric}, {"deadline", Pool::Date}, {"daytime", Pool::Temporal}, {"headcount", Pool::Numeric}, {"pref", Pool::Preference}},
     {{"daytime", "temporal", "复盘会时间是 {daytime}", "复盘会什么时候？"},
      {"name_a", "person", "复盘会主持人是 {name_a}", "复盘会主持人是谁？"},
      {"role_b", "relational", "{name_a} 的职位是 {role_b}", "{name_a} 的职位是什么？"},
      {"location", "spatial", "复盘会会议室是 {location}", "复盘会会议室在哪？"},
      {"headcount", "numeric", "复盘会参加人数 {headcount}", "复盘会预计多少人？"},
      {"project", "project", "复盘的项目是 {project}", "复盘的项目是什么？"},
      {"budget", "numeric", "复盘的预算是 {budget}", "复盘的预算是多少？"},
      {"name_b", "person", "{name_b} 也参加复盘会", "复盘会还有谁参加？"},
      {"role_c", "relational", "{name_b} 的职位是 {role_c}", "{name_b} 的职位是什么？"},
      {"empid", "numeric", "{name_b} 工号 {empid}", "{name_b} 的工号是多少？"},
      {"deadline", "temporal", "复盘报告截止 {deadline}", "复盘报告什么时候截止？"},
      {"pref", "preference", "{name_a} {pref}", "{name_a} 的饮食偏好是什么？"}},
     {{"name_a", "role_b", "复盘会主持人是什么职位？", "{role_b}"},
      {"project", "budget", "复盘项目的预算是多少？", "{budget}"},
      {"name_b", "role_c", "{name_b} 是什么职位？", "{role_c}"},
      {"name_b", "empid", "{name_b} 的工号是多少？", "{empid}"},
      {"daytime", "location", "复盘会什么时候开，在哪个会议室？", "{daytime}；{location}"}}}};

bool is_dietary(std::string_view preference) {
  static constexpr std::array<std::string_view, 6> kDietary{"不吃辣", "偏好清淡", "不喝咖啡",
                                                            "对花生过敏", "需要全套素食", "不喝酒"};
  return std::find(kDietary.begin(), kDietary.end(), preference) != kDietary.end();
}

}  // namespace tttmem::bench::data
